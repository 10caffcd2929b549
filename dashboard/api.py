"""The dashboard's one door to the backend: the core REST client, configured for interactive pages.

Pages get the client from `get_api()` and catch `xclab.client.ApiError` (`ApiUnavailable` when nothing answers).
"""

from __future__ import annotations

from functools import lru_cache

from dashboard.auth import session_token
from xclab.client import ApiClient
from xclab.settings import get_settings

# "waiting": a grid student whose teachers (or generator) have not finished yet.
RUN_STATUSES = ("waiting", "queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


@lru_cache(maxsize=8)
def _api_for(url: str, token: str | None) -> ApiClient:
    # One pooled client per (URL, token), shared by every session and fragment rerun. A missing API is reported
    # at once (short connect timeout, no retries): the page's own refresh is the retry, a hung page is worse.
    return ApiClient(url, token, timeout=15.0, connect_timeout=3.0, retry_seconds=0)


def api_url() -> str:
    return get_settings().api_url.rstrip("/")


def get_api() -> ApiClient:
    """The client for the configured API (XCL_API_URL) with this browser session's login token: never a token
    of the dashboard process (no XCL_API_TOKEN, no stored admin token), see dashboard/auth.py."""
    return _api_for(api_url(), session_token())

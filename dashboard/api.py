"""The dashboard's one door to the backend: the core REST client, configured for interactive pages.

Pages get the client from `get_api()` and catch `xclab.client.ApiError` (`ApiUnavailable` when nothing answers).
"""

from __future__ import annotations

from functools import lru_cache

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


def get_api() -> ApiClient:
    """The client for the configured API (XCL_API_URL, and XCL_API_TOKEN or the token `xclab up` stored)."""
    settings = get_settings()
    return _api_for(settings.api_url.rstrip("/"), settings.resolved_api_token())

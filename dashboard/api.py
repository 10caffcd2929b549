"""The dashboard's one door to the backend: the core REST client, configured for interactive pages.

Pages get the client from `get_api()` and catch `xclab.client.ApiError` (`ApiUnavailable` when nothing answers).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from dashboard.auth import session_token
from xclab.client import ApiClient, ApiError
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


# ------------------------------------------------------------ metric histories for charts

HISTORY_THREADS = 8
_FINISHED_HISTORIES: OrderedDict[tuple[Any, ...], list[dict[str, Any]] | None] = OrderedDict()
MAX_CACHED_HISTORIES = 2000  # a few MB at most: 500 points a history


def _history_key(run: dict[str, Any], key: str, max_points: int, wall_time: bool) -> tuple[Any, ...] | None:
    """A finished run's history no longer changes until it is retried, which bumps attempt and finished_at; a
    running run's is fetched every time. The token is part of the key: a cache never crosses logins."""
    if run.get("status") not in FINAL_STATUSES:
        return None
    return (api_url(), session_token(), run["id"], run.get("attempt"), run.get("finished_at"), key, max_points,
            wall_time)  # fmt: skip


def metric_histories(
    runs: Sequence[dict[str, Any]], keys: Sequence[str], max_points: int, wall_time: bool = False
) -> dict[tuple[int, str], list[dict[str, Any]] | None]:
    """Every (run, key) history a chart page draws, fetched side by side (one request each, a pool of
    HISTORY_THREADS) and, for finished runs, remembered; None where the run never logged the key. Raises the
    first ApiError other than that 404."""
    api = get_api()
    wanted = {(run["id"], key): _history_key(run, key, max_points, wall_time) for run in runs for key in keys}
    out = {
        pair: _FINISHED_HISTORIES[c]
        for pair, c in wanted.items()
        if c is not None and c in _FINISHED_HISTORIES
    }

    def fetch(pair: tuple[int, str]) -> list[dict[str, Any]] | None:
        try:
            return api.get_metric_history(pair[0], pair[1], max_points=max_points, wall_time=wall_time)
        except ApiError as err:
            if err.status_code == 404:
                return None
            raise

    missing = [pair for pair in wanted if pair not in out]
    if missing:
        with ThreadPoolExecutor(min(HISTORY_THREADS, len(missing))) as pool:
            for pair, points in zip(missing, pool.map(fetch, missing), strict=True):
                out[pair] = points
                cache_key = wanted[pair]
                if cache_key is not None:
                    _FINISHED_HISTORIES[cache_key] = points
                    while len(_FINISHED_HISTORIES) > MAX_CACHED_HISTORIES:
                        _FINISHED_HISTORIES.popitem(last=False)
    return out

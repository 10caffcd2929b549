"""Streamlit helpers shared by the pages: page paths, status colours and how API failures are shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from dashboard.api import get_api
from xclab.client import ApiError, ApiUnavailable

# Page scripts, relative to app.py (st.Page and st.page_link resolve them against the entry point).
RUNS_PAGE = "app_pages/runs.py"
RUN_PAGE = "app_pages/run.py"
LAUNCH_PAGE = "app_pages/launch.py"
GRIDS_PAGE = "app_pages/grids.py"

REFRESH_SECONDS = 3.0

# One colour per lifecycle state: a badge colour and a light cell background readable in both themes.
STATUS_BADGE: dict[str, str] = {
    "waiting": "orange",
    "queued": "yellow",
    "running": "blue",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "gray",
}
STATUS_CELL: dict[str, str] = {
    "waiting": "#fed7aa",
    "queued": "#fde68a",
    "running": "#a5f3fc",
    "succeeded": "#bbf7d0",
    "failed": "#fecaca",
    "cancelled": "#e5e7eb",
}

T = TypeVar("T")


def status_badge(status: str) -> None:
    st.badge(status, color=STATUS_BADGE.get(status, "gray"))  # type: ignore[arg-type]


def status_cell_style(status: str) -> str:
    colour = STATUS_CELL.get(status)
    return f"background-color: {colour}; color: #111827" if colour else ""


def show_api_error(err: ApiError) -> None:
    if isinstance(err, ApiUnavailable):
        st.error(
            f"**Cannot reach the XCL Lab API at {err.url}** ({err.reason}).\n\n"
            "Start the stack with `xclab up` (API, worker and dashboard), or `xclab serve` for the API alone; "
            "if the API runs elsewhere, set `XCL_API_URL` to its address.",
            icon=":material/cloud_off:",
        )
    else:
        st.error(f"The API refused: {err.message}", icon=":material/error:")


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One API call for rendering; on failure show why and stop this (script or fragment) run."""
    try:
        return fn(*args, **kwargs)
    except ApiError as err:
        show_api_error(err)
        st.stop()
        raise  # unreachable: st.stop() raises; keeps type checkers honest


def last_epoch(run: dict[str, Any]) -> int | None:
    """The last step of the run's primary metric (logged once per epoch), or None before the first epoch."""
    if not run.get("primary_metric"):
        return None
    try:
        points = get_api().get_metric_history(run["id"], run["primary_metric"], max_points=2)
    except ApiError:
        return None  # not logged yet (404), or the API hiccuped: progress is a nicety, never an error
    return max((int(p["step"]) for p in points), default=None)


def run_link(run_id: int, label: str | None = None) -> None:
    st.page_link(
        RUN_PAGE,
        label=label or f"Open run #{run_id}",
        icon=":material/open_in_new:",
        query_params={"run": str(run_id)},
    )

"""Toasts on every page when a run or grid finishes: a small fragment in app.py compares what it sees every few
seconds with what it saw last time in this browser session."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.api import FINAL_STATUSES, get_api
from dashboard.tables import run_name
from xclab.client import ApiError

NOTIFY_SECONDS = 10.0  # a toast a few seconds late is fine; every poll costs each open page
# Runs end from "running" (a queued run ends only when someone cancels it, who needs no toast); polling just
# those keeps this cheap on every page, whatever the number of queued runs. The newest 50 are watched.
WATCHED_STATUS = ["running"]
WATCHED_RUNS = 50
SEEN_RUNS, SEEN_GRIDS = "notify_runs", "notify_grids"
ICONS = {
    "succeeded": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
}


def gone(before: set[int] | None, unfinished: list[dict[str, Any]]) -> list[int]:
    """Runs running last time and not now: they finished (nothing on the first look, so no flood on load)."""
    if before is None:
        return []
    return sorted(before - {r["id"] for r in unfinished})


def finished_grids(before: dict[int, bool] | None, grids: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if before is None:
        return []
    return [g for g in grids if g["done"] and before.get(g["id"]) is False]


@st.fragment(run_every=NOTIFY_SECONDS)
def notifications() -> None:
    api = get_api()
    try:
        # One that left the list is read once, to say how it ended.
        unfinished = api.list_runs(status=WATCHED_STATUS, sort="-id", limit=WATCHED_RUNS)["data"]
        ended = [api.get_run(run_id) for run_id in gone(st.session_state.get(SEEN_RUNS), unfinished)]
        grids = api.list_grids(cells=False)
    except ApiError:
        return  # the page itself explains a missing API
    for run in ended:
        if run["status"] in FINAL_STATUSES:
            st.toast(f"Run #{run['id']} {run_name(run)} {run['status']}", icon=ICONS[run["status"]])
    for grid in finished_grids(st.session_state.get(SEEN_GRIDS), grids):
        failed = grid["counts"].get("failed", 0)
        st.toast(
            f"Grid #{grid['id']} {grid['name']} finished" + (f", {failed} failed" if failed else ""),
            icon=ICONS["failed" if failed else "succeeded"],
        )
    st.session_state[SEEN_RUNS] = {r["id"] for r in unfinished}
    st.session_state[SEEN_GRIDS] = {g["id"]: g["done"] for g in grids}

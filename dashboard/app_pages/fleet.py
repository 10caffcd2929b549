"""Fleet: every worker that reported to the API — host, queues, GPUs, slots, the runs it holds, software — with
stale ones (silent past the timeout, or stopped) marked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.api import get_api
from dashboard.ui import call


def _gpus(gpus: list[dict[str, Any]]) -> str:
    if not gpus:
        return "–"
    return ", ".join(f"{g['index']}: {g['name']} ({g['memory_mb'] / 1024:.0f} GiB)" for g in gpus)


def _ago(iso: str) -> str:
    seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def fleet_frame(workers: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "worker": w["name"],
            "state": "stale" if w["stale"] else "online",
            "host": w["host"],
            "queues": ", ".join(w["queues"]),
            "GPUs": _gpus(w["gpus"]),
            "slots": w["slots"],
            "running": ", ".join(f"#{r}" for r in w["running"]) or "–",
            "torch": w["software"].get("torch", "–"),
            "xclab": w["software"].get("xclab", "–"),
            "last seen": _ago(w["last_seen"]),
        }
        for w in workers
    ]
    columns = ["worker", "state", "host", "queues", "GPUs", "slots", "running", "torch", "xclab", "last seen"]
    return pd.DataFrame(rows, columns=columns)


st.title("Fleet")
page = call(get_api().list_workers)
workers = page["data"]
online = [w for w in workers if not w["stale"]]
left, middle, right = st.columns(3)
left.metric("Workers online", len(online))
middle.metric("GPUs online", sum(len(w["gpus"]) for w in online))
right.metric("Runs executing", sum(len(w["running"]) for w in online))
if not workers:
    st.info(
        "No worker has reported yet. Start one with `xclab worker --queues cpu` (or `gpu` on a GPU node)."
    )
else:
    st.dataframe(fleet_frame(workers), hide_index=True, width="stretch")
    st.caption(
        f"A worker is stale when it has not reported for {page['stale_after_s']:.0f} s or has stopped."
    )

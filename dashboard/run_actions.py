"""The run page's buttons (Cancel, Retry, Rerun & verify) and, on a rerun, the verdict: did it reproduce?"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.api import FINAL_STATUSES, get_api
from dashboard.ui import call, run_link
from xclab.client import ApiError


def _rerun(run_id: int) -> None:
    """Button callback: repeat a finished run as a new run; its page will compare the two."""
    try:
        repeat = get_api().rerun_run(run_id)
    except ApiError as err:
        st.session_state["run_action"] = (run_id, "error", f"Rerun refused: {err.message}")
        return
    st.session_state["run_action"] = (
        run_id,
        "success",
        f"Rerun submitted as run #{repeat['id']}: its page says whether every metric matches this run's.",
    )
    st.session_state["run_rerun_id"] = (run_id, repeat["id"])


def _act(action: str, run_id: int) -> None:
    """Button callback: ask the API, keep its answer to show on the rerun."""
    api = get_api()
    try:
        run = (api.cancel_run if action == "cancel" else api.retry_run)(run_id)
    except ApiError as err:
        st.session_state["run_action"] = (run_id, "error", f"{action.title()} refused: {err.message}")
        return
    note = ""
    if run["status"] == "running" and run["cancel_requested"]:
        note = "; cancel requested, the worker stops at its next check"
    st.session_state["run_action"] = (
        run_id,
        "success",
        f"{action.title()} accepted: run #{run_id} is {run['status']} (attempt {run['attempt']}){note}.",
    )


def actions(run: dict[str, Any]) -> None:
    cols = st.columns([1, 1, 1.6, 4.4])
    cols[0].button(
        "Cancel",
        icon=":material/stop_circle:",
        key="run_cancel",
        on_click=_act,
        args=("cancel", run["id"]),
        disabled=run["status"] in FINAL_STATUSES,
        help="Queued runs end at once; running ones stop at the worker's next check.",
    )
    cols[1].button(
        "Retry",
        icon=":material/replay:",
        key="run_retry",
        on_click=_act,
        args=("retry", run["id"]),
        disabled=run["status"] not in {"failed", "cancelled"},
        help="Run a failed or cancelled run again under the same id (next attempt).",
    )
    cols[2].button(
        "Rerun & verify",
        icon=":material/verified:",
        key="run_rerun",
        on_click=_rerun,
        args=(run["id"],),
        disabled=run["status"] != "succeeded",
        help="Repeat this run as a new run with the same spec, seed and hyperparameters, then check that every "
        "metric matches exactly (the same software gives bit-identical numbers).",
    )
    answer = st.session_state.get("run_action")
    if answer and answer[0] == run["id"]:
        (st.success if answer[1] == "success" else st.error)(answer[2])
    repeat = st.session_state.get("run_rerun_id")
    if repeat and repeat[0] == run["id"]:
        run_link(repeat[1], f"Open the rerun, run #{repeat[1]}")


def reproduction(run: dict[str, Any]) -> None:
    """On a rerun: did it reproduce the original? Exact metric equality, else where it parted and which
    environment fields differ."""
    original = run.get("rerun_of")
    if original is None:
        return
    if run["status"] not in FINAL_STATUSES:
        st.info(
            f"This run repeats run #{original}; the verdict comes when it finishes.",
            icon=":material/pending:",
        )
        return
    verdict = call(get_api().compare_reproduction, original, run["id"])
    if verdict["identical"]:
        st.success(
            f"Reproduced run #{original} exactly: {verdict['compared_points']} metric values, all equal.",
            icon=":material/verified:",
        )
    else:
        where = verdict["first_divergence"]
        text = f"Did not reproduce run #{original}"
        if where:
            text += f": first difference at epoch {where['step']}, `{where['key']}` {where['a']!r} vs {where['b']!r}"
        problems = "; ".join(verdict["problems"] + verdict["only_in_a"][:5] + verdict["only_in_b"][:5])
        st.error(text + (f" ({problems})" if problems else ""), icon=":material/difference:")
    if verdict["environment_diff"]:
        st.caption("Environment fields that differ between the two runs:")
        rows = [
            {"field": k, f"run #{original}": v["a"], "this run": v["b"]}
            for k, v in verdict["environment_diff"].items()
        ]
        st.dataframe(pd.DataFrame(rows).astype(str), hide_index=True)

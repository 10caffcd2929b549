"""Run: one run's status, spec, metrics, learning curves and artifacts, with Cancel, Retry and Rerun & verify
(a finished run repeated as a new run, and the repeat's page says whether it reproduced the original exactly)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.api import FINAL_STATUSES, get_api
from dashboard.charts import curve_figure, group_metric_keys
from dashboard.progress import progress_text, run_progress
from dashboard.tables import human_bytes, mapping_frame, primary_value, run_name
from dashboard.ui import (
    REFRESH_SECONDS,
    RUNS_PAGE,
    call,
    last_epoch,
    run_link,
    show_api_error,
    status_badge,
)
from xclab.client import ApiError

RUN_KEY = "run_id_input"
MAX_POINTS = 2000


def _url_follows_input() -> None:
    run_id = st.session_state[RUN_KEY]
    if run_id is None:
        st.query_params.pop("run", None)
    else:
        st.query_params["run"] = str(run_id)


def selected_run_id() -> int | None:
    """The run named by ?run=<id>, editable in a number box that keeps the URL in step (shareable links)."""
    param = st.query_params.get("run", "")
    if param and not (param.isdigit() and int(param) >= 1):
        st.error(f"'{param}' is not a run id: a run id is a whole number like 12.", icon=":material/error:")
    elif param and st.session_state.get(RUN_KEY) != int(param):
        st.session_state[RUN_KEY] = int(param)  # a link from another page wins over a remembered value
    return st.number_input(
        "Run id",
        min_value=1,
        step=1,
        value=None,
        key=RUN_KEY,
        placeholder="run id",
        on_change=_url_follows_input,
    )


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


def header(run: dict[str, Any]) -> None:
    st.subheader(f"Run #{run['id']}: {run_name(run)} · {run['task']}")
    status_badge(run["status"])
    cols = st.columns(4)
    cols[0].metric("Status", run["status"])
    cols[1].metric("Attempt", run["attempt"])
    value = primary_value(run)
    cols[2].metric(run["primary_metric"] or "primary metric", "–" if value is None else f"{value:.3f}")
    cols[3].metric("Worker", run["worker_host"] or "–")
    times = " · ".join(
        f"{label} {pd.Timestamp(run[key]).strftime('%Y-%m-%d %H:%M:%S')}"
        for label, key in (("created", "created_at"), ("started", "started_at"), ("finished", "finished_at"))
        if run[key]
    )
    st.caption(f"experiment #{run['experiment_id']} · queue {run['queue']} · {times}")
    if run["status"] in {"running", "succeeded"} or run["started_at"]:
        progress = run_progress(run, last_epoch(run))
        st.progress(progress.fraction or 0.0, text=progress_text(progress))
    if run["error"]:
        st.error(run["error"], icon=":material/error:")
    if run["teachers"]:
        st.markdown("**Teachers**")
        for teacher in run["teachers"]:
            run_link(teacher, f"Teacher run #{teacher}")


def _fetch_curves(run: dict[str, Any], keys: list[str]) -> list[tuple[str, dict[str, list[dict[str, Any]]]]]:
    api, run_id = get_api(), run["id"]
    loss, accuracy, other = group_metric_keys(keys)
    # The task's primary metric is always worth a look (e.g. angular error for gaze).
    primary = [k for k in other if k == run["primary_metric"]]
    chosen = (
        st.multiselect("Other metrics", other, default=primary, key=f"run_other_{run_id}") if other else []
    )
    charts = [(t, ks) for t, ks in (("Loss", loss), ("Accuracy", accuracy), ("Other", chosen)) if ks]
    return [
        (title, {k: call(api.get_metric_history, run_id, k, max_points=MAX_POINTS) for k in chart_keys})
        for title, chart_keys in charts
    ]


def learning_curves(run: dict[str, Any], live: bool) -> None:
    st.markdown("#### Learning curves")
    run_id = run["id"]
    keys = call(get_api().list_metric_keys, run_id)
    if not keys:
        st.info("No metrics logged yet.", icon=":material/hourglass_empty:")
        return
    # Streamlit redraws a chart from scratch when its data change, which drops the user's zoom; frozen, the
    # charts keep the data they had (and so the zoom), while status and progress above stay live.
    frozen = live and st.toggle(
        "Freeze charts",
        key=f"run_freeze_{run_id}",
        help="Keep the curves as they are (and your zoom) while new points arrive; unfreeze to catch up.",
    )
    stored = st.session_state.get(f"run_curves_{run_id}")
    if not frozen or stored is None:
        stored = _fetch_curves(run, keys)
        st.session_state[f"run_curves_{run_id}"] = stored
    cols = st.columns(2)
    for i, (title, histories) in enumerate(stored):
        with cols[i % 2]:
            st.plotly_chart(curve_figure(histories, title), key=f"run_chart_{title}")


def artifacts(run: dict[str, Any]) -> None:
    if not run["artifacts"]:
        st.caption("No artifacts yet.")
        return
    frame = pd.DataFrame(run["artifacts"])[["path", "kind", "size", "sha256", "url"]]
    frame["size"] = frame["size"].map(human_bytes)
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "url": st.column_config.LinkColumn(
                "link",
                display_text="download",
                help="Direct API link (needs no token unless reads require one)",
            )
        },
    )
    api = get_api()
    for artifact in run["artifacts"]:
        st.download_button(
            f"Download {artifact['path']}",
            data=partial(api.read_artifact, run["id"], artifact["path"]),  # fetched only on click
            file_name=artifact["path"].rsplit("/", 1)[-1],
            mime="application/octet-stream",
            on_click="ignore",
            key=f"run_artifact_{artifact['path']}",
            icon=":material/download:",
        )


def details(run: dict[str, Any]) -> None:
    summary, spec, hparams, files = st.tabs(["Summary metrics", "Spec", "Hyperparameters", "Artifacts"])
    with summary:
        if run["summary"]:
            st.dataframe(
                mapping_frame(run["summary"], "metric", "value"),
                hide_index=True,
                column_config={"value": st.column_config.NumberColumn("value", format="%.4g")},
                placeholder="–",
            )
        else:
            st.caption("No metrics yet.")
    with spec:
        st.json(run["spec"])
    with hparams:
        st.json(run["hparams"])
    with files:
        artifacts(run)


api = get_api()
st.title("Run")
st.page_link(RUNS_PAGE, label="All runs", icon=":material/arrow_back:")
run_id = selected_run_id()
if run_id is None:
    st.info("Enter a run id, or open a run from the Runs page.", icon=":material/info:")
    st.stop()
try:
    first = api.get_run(int(run_id))
except ApiError as err:
    if err.status_code != 404:
        show_api_error(err)
        st.stop()
    st.error(f"Run {run_id} not found: open a run from the Runs page.", icon=":material/search_off:")
    st.stop()
live = first["status"] not in FINAL_STATUSES and st.toggle(
    "Live refresh",
    value=True,
    key="run_live",
    help=f"Reload every {REFRESH_SECONDS:g} s while the run is active",
)


@st.fragment(run_every=REFRESH_SECONDS if live else None)
def run_view(run_id: int, shown_status: str) -> None:
    run = call(get_api().get_run, run_id)
    if run["status"] != shown_status:
        st.rerun()  # a full rerun re-decides live refresh (off once the run has finished)
    header(run)
    actions(run)
    reproduction(run)
    learning_curves(run, run["status"] not in FINAL_STATUSES)
    details(run)


run_view(int(run_id), first["status"])

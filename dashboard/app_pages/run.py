"""Run: one run's status, spec, metrics, learning curves, system metrics, media, live console and artifacts,
with Cancel, Retry and Rerun & verify (a finished run repeated as a new run, and the repeat's page says whether it
reproduced the original exactly). The sections live in dashboard/run_*.py."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.api import FINAL_STATUSES, get_api
from dashboard.charts import curve_figure, group_metric_keys, is_system_key
from dashboard.progress import progress_text, run_progress
from dashboard.run_actions import actions, reproduction
from dashboard.run_console import console
from dashboard.run_media import artifacts, generator_link, media
from dashboard.run_system import system_metrics
from dashboard.tables import mapping_frame, primary_value, run_name
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
    generator_link(run)


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
    if not [k for k in keys if not is_system_key(k)]:
        st.info("No metrics logged yet.", icon=":material/hourglass_empty:")
        system_metrics(run_id, keys)  # the worker's samples come from the run's first second
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
    system_metrics(run_id, keys)


def details(run: dict[str, Any]) -> None:
    summary, spec, hparams, files = st.tabs(["Summary metrics", "Spec", "Hyperparameters", "Artifacts"])
    with summary:
        training = {k: v for k, v in run["summary"].items() if not is_system_key(k)}
        if training:
            st.dataframe(
                mapping_frame(training, "metric", "value"),
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
    media(run)


@st.fragment(run_every=REFRESH_SECONDS if live else None)
def details_view(run_id: int) -> None:
    details(call(get_api().get_run, run_id))


run_view(int(run_id), first["status"])
# A fragment of its own, on its own timer: console lines arrive without redrawing the charts above.
console(int(run_id), first["status"])
details_view(int(run_id))

"""Compare: 2 to 20 runs side by side (?ids=1,2,3): the spec fields that differ, the runs' latest metrics,
learning curves per metric (per run, or grouped by any spec field with a band over the group's runs; by step or
wall time), and a parallel-coordinates view of the hyperparameters against the primary metric."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.api import get_api, metric_histories
from dashboard.charts import default_chart_keys, groups_figure, parallel_figure, runs_figure
from dashboard.groups import BANDS, X_AXES, field_options, group_runs, parallel_dimensions
from dashboard.tables import compare_summary_frame, run_name, spec_diff_frame
from dashboard.ui import RUNS_PAGE, call, run_link, show_api_error
from xclab.client import ApiError

IDS_KEY = "compare_ids_input"
URL_SEEN = "compare_ids_url"
KEYS_KEY = "compare_keys"
GROUP_KEY = "compare_group_by"
PARALLEL_KEY = "compare_parallel_on"
BAND_KEY, AXIS_KEY, VIEW_SEEN = "compare_band", "compare_x_axis", "compare_view_url"
VIEW_PARAMS = ("group", "band", "x")
MAX_POINTS = 500
MAX_RUNS = 20


def parse_ids(values: list[str]) -> tuple[list[int], list[str]]:
    """Run ids from "1,2,3" (or repeated ?ids=), without repeats, and the parts that are not ids."""
    ids: list[int] = []
    bad: list[str] = []
    for value in values:
        for part in value.replace(" ", ",").split(","):
            if not part:
                continue
            if part.lstrip("#").isdigit() and int(part.lstrip("#")) > 0:
                run_id = int(part.lstrip("#"))
                if run_id not in ids:
                    ids.append(run_id)
            else:
                bad.append(part)
    return ids, bad


def _url_follows_input() -> None:
    ids, _ = parse_ids([st.session_state.get(IDS_KEY, "")])
    url = ",".join(map(str, ids))
    if url:
        st.query_params["ids"] = url
    else:
        st.query_params.pop("ids", None)
    st.session_state[URL_SEEN] = url  # the URL now follows the box: the box keeps what was typed


def selected_ids() -> list[int]:
    """The runs named by ?ids=, editable in a text box that keeps the URL in step (shareable links)."""
    from_url = ",".join(map(str, parse_ids(st.query_params.get_all("ids"))[0]))
    if from_url and st.session_state.get(URL_SEEN) != from_url:
        st.session_state[IDS_KEY] = from_url  # a new link (from the Runs page) wins over a remembered value
    st.session_state[URL_SEEN] = from_url
    text = st.text_input(
        "Run ids",
        key=IDS_KEY,
        placeholder="e.g. 12, 13, 20",
        on_change=_url_follows_input,
        help=f"2 to {MAX_RUNS} run ids; or pick runs on the Runs page and press Compare.",
    )
    ids, bad = parse_ids([text or ""])
    if bad:
        st.warning(f"Ignored what is not a run id: {', '.join(bad)}", icon=":material/warning:")
    return ids


def download(frame: Any, name: str, key: str) -> None:
    st.download_button(
        f"Download {name} CSV",
        frame.to_csv(index=False),
        file_name=f"{name.replace(' ', '-')}.csv",
        mime="text/csv",
        on_click="ignore",
        key=key,
        icon=":material/download:",
    )


def spec_differences(data: dict[str, Any], ids: list[int]) -> None:
    st.markdown("#### Spec differences")
    frame = spec_diff_frame(data["spec_diff"], ids)
    if frame.empty:
        st.info("The runs' specs and hyperparameters are identical.", icon=":material/check:")
        return
    st.caption(
        "Only the fields (spec and hparams.*) whose values differ; empty means the run has no such field."
    )
    st.dataframe(frame, hide_index=True)
    download(frame, "spec diff", "compare_diff_csv")


def latest_metrics(data: dict[str, Any], names: dict[int, str]) -> None:
    st.markdown("#### Latest metrics")
    frame = compare_summary_frame(data["runs"], names)
    st.dataframe(
        frame, hide_index=True, column_config={"id": st.column_config.NumberColumn("id", format="%d")}
    )
    download(frame, "metrics", "compare_metrics_csv")


def histories(runs: list[dict[str, Any]], keys: list[str], wall_time: bool) -> dict[tuple[int, str], Any]:
    try:
        return metric_histories(runs, keys, MAX_POINTS, wall_time=wall_time)
    except ApiError as err:
        show_api_error(err)
        st.stop()
        raise  # unreachable: st.stop() raises


def view_from_url(options: list[str]) -> None:
    """?group=method.name,seed&band=ci&x=elapsed (a shared link) sets the grouping, band and x axis; what the
    user picks afterwards is written back (view_to_url)."""
    query = {k: st.query_params.get(k, "") for k in VIEW_PARAMS}
    if query == st.session_state.get(VIEW_SEEN):
        return
    st.session_state[GROUP_KEY] = [f for f in query["group"].split(",") if f in options]
    st.session_state[BAND_KEY] = query["band"] if query["band"] in BANDS else "std"
    st.session_state[AXIS_KEY] = query["x"] if query["x"] in X_AXES else "step"


def view_to_url(fields: list[str], band: str, axis: str) -> None:
    """Only what differs from the defaults, so a plain link stays plain."""
    query = {"group": ",".join(fields), "band": band if fields and band != "std" else "", "x": axis}
    query["x"] = "" if axis == "step" else axis
    for key, value in query.items():
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value
        elif not value and key in st.query_params:
            del st.query_params[key]
    st.session_state[VIEW_SEEN] = {k: query[k] for k in VIEW_PARAMS}


def curve_controls(runs: list[dict[str, Any]]) -> tuple[list[str], str, float, bool, str]:
    """Group-by fields, band, smoothing, log scale and x axis; the first three also in the URL."""
    options = field_options(runs)
    view_from_url(options)
    # Other runs may lack a field grouped by before.
    st.session_state[GROUP_KEY] = [f for f in st.session_state.get(GROUP_KEY, []) if f in options]
    cols = st.columns([3, 2, 2], vertical_alignment="bottom")
    fields = cols[0].multiselect(
        "Group by",
        options,
        key=GROUP_KEY,
        placeholder="one line per run",
        help="Any spec field (method.name, model.width, teachers, ...) or hyperparameter (hparams.*): one "
        "line per group, the mean over its runs (say, its seeds) in a band. Fields that differ come first.",
    )
    band = cols[1].radio(
        "Band",
        list(BANDS),
        format_func=BANDS.__getitem__,
        key=BAND_KEY,
        horizontal=True,
        disabled=not fields,
        help="Standard deviation across the group's runs, or the 95 % t-interval of their mean.",
    )
    axis = cols[2].radio(
        "X axis", list(X_AXES), format_func=X_AXES.__getitem__, key=AXIS_KEY, horizontal=True
    )
    controls = st.columns([3, 1], vertical_alignment="bottom")
    smoothing = controls[0].slider(
        "Smoothing",
        0.0,
        0.99,
        0.0,
        0.01,
        key="compare_smoothing",
        help="Exponential moving average, as in TensorBoard.",
    )
    log_y = controls[1].toggle("Log scale", key="compare_log_y")
    view_to_url(fields, band, axis)
    return fields, band, smoothing, log_y, axis


def learning_curves(data: dict[str, Any]) -> None:
    st.markdown("#### Learning curves")
    runs = data["runs"]
    every_key = sorted({k for run in runs for k in run["summary"]})
    if not every_key:
        st.info("None of these runs has logged a metric yet.", icon=":material/hourglass_empty:")
        return
    if KEYS_KEY not in st.session_state or not set(st.session_state[KEYS_KEY]) <= set(every_key):
        defaults = default_chart_keys([r["primary_metric"] for r in runs], every_key)
        st.session_state[KEYS_KEY] = defaults or every_key[:2]
    keys = st.multiselect(
        "Metrics",
        every_key,
        key=KEYS_KEY,
        help="One chart per metric, one line per run or group (latest 500 points); first the task's primary "
        "metric and the losses.",
    )
    fields, band, smoothing, log_y, axis = curve_controls(runs)
    labels = {run["id"]: f"#{run['id']} {run_name(run)}" for run in runs}
    groups = group_runs(runs, fields) if fields else {}
    fetched = histories(runs, keys, wall_time=axis != "step")
    cols = st.columns(2)
    for i, key in enumerate(keys):
        present = {r["id"]: p for r in runs if (p := fetched[(r["id"], key)]) is not None}
        if fields:
            figure = groups_figure(groups, present, key, band, smoothing, log_y, axis)
        else:
            figure = runs_figure(runs, present, labels, key, smoothing=smoothing, log_y=log_y, axis=axis)
        with cols[i % 2]:
            st.plotly_chart(figure, key=f"compare_chart_{key}")


def hyperparameters(data: dict[str, Any]) -> None:
    """Parallel coordinates: each differing spec field or hyperparameter an axis, the metric the last."""
    runs = data["runs"]
    metrics = [r["primary_metric"] for r in runs if r.get("primary_metric")]
    if not metrics:
        return
    metric = max(dict.fromkeys(metrics), key=metrics.count)  # the most common primary metric
    st.markdown(f"#### Hyperparameters vs {metric}")
    # Opt-in: plotly draws parallel coordinates with WebGL, which costs a browser without a GPU (software
    # rendering) over a second of page load; see docs/performance.md.
    if not st.toggle(
        "Parallel coordinates",
        key=PARALLEL_KEY,
        help="One axis per field that differs among the runs, the metric last; drag along an axis to filter.",
    ):
        return
    shown, dims = parallel_dimensions(runs, data["spec_diff"], metric)
    if len(shown) < 2 or len(dims) < 2:
        st.info(f"Needs 2 runs with a {metric} value that differ in some field.", icon=":material/info:")
        return
    st.plotly_chart(parallel_figure(dims, metric), key="compare_parallel")
    left_out = len(runs) - len(shown)
    st.caption(
        "Drag along an axis to filter the lines. Categorical fields are shown as their values."
        + (f" {left_out} run(s) without {metric} left out." if left_out else "")
    )


api = get_api()
st.title("Compare runs")
st.page_link(RUNS_PAGE, label="All runs", icon=":material/arrow_back:")
ids = selected_ids()
if len(ids) < 2 or len(ids) > MAX_RUNS:
    st.info(
        f"Name 2 to {MAX_RUNS} runs (you named {len(ids)}), or pick them on the Runs page and press Compare.",
        icon=":material/info:",
    )
    st.stop()
data = call(api.compare_runs, ids)
names = {e["id"]: e["name"] for e in call(api.list_experiments)}
with st.expander("Open a run", expanded=True):
    for run in sorted(data["runs"], key=lambda r: (r["method"], r["id"])):
        run_link(run["id"], f"#{run['id']} {run_name(run)} · {run['status']}")
spec_differences(data, ids)
latest_metrics(data, names)
learning_curves(data)
hyperparameters(data)

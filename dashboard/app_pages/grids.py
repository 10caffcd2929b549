"""Grids: launch a declarative grid (a built-in one or your own YAML), follow its cells live, read its report."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import yaml

from dashboard.api import FINAL_STATUSES, RUN_STATUSES, get_api
from dashboard.grid_errors import error_lines
from dashboard.grid_progress import progress_bar_html
from dashboard.report_tables import comparisons_frame, interval, reduction_interval, row_label
from dashboard.ui import REFRESH_SECONDS, STATUS_BADGE, call, run_link, status_cell_style
from xclab.client import ApiError

SELECTED = "grids_selected"
BUILTIN = "grids_builtin"
YAML_TEXT = "grids_yaml"
LAUNCH_ERRORS = "grids_launch_errors"
LAUNCHED = "grids_launched"
RETRY_ANSWER = "grids_retry_answer"
RETRYABLE = frozenset({"failed", "cancelled"})
# The API renders these itself, so the files match `xclab grid report` exactly.
REPORT_FORMATS = {
    "markdown": ("Markdown", "md", "text/markdown"),
    "latex": ("LaTeX", "tex", "application/x-latex"),
    "csv": ("CSV", "csv", "text/csv"),
}
# Relative to the page's URL, so links keep working when the dashboard is served under a path prefix.
RUN_URL = "run?run={}"
EXAMPLE = """name: my-grid
task: digits
epochs: 2
teachers:
  - {name: ens, members: 2, model: {name: small-cnn, width: 0.5}}
students:
  models: [{name: small-cnn, width: 0.25}]
  seeds: [0, 1]
  methods: [{name: erm}, {name: kd, teachers: ens}]"""


# ------------------------------------------------------------ launch


def _load_builtin(builtins: dict[str, str]) -> None:
    name = st.session_state.get(BUILTIN)
    if name:
        st.session_state[YAML_TEXT] = builtins[name]


def parse_definition(text: str) -> dict[str, Any]:
    """The YAML as a mapping; raises ValueError with a readable reason otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"The YAML does not parse:\n```\n{exc}\n```") from exc
    if not isinstance(data, dict):
        raise ValueError("A grid is a YAML mapping with at least name, task and teachers or students.")
    return data


def select_grid(grid_id: int) -> None:
    # The URL too: on the rerun ?grid= would otherwise win over the new selection.
    st.session_state[SELECTED] = grid_id
    st.query_params["grid"] = str(grid_id)


def _submit() -> None:
    """Button callback: runs before the rerun, so the new grid is already in the list it draws."""
    st.session_state[LAUNCH_ERRORS], st.session_state[LAUNCHED] = [], None
    try:
        grid = get_api().submit_grid(parse_definition(st.session_state.get(YAML_TEXT) or ""))
    except ValueError as exc:
        st.session_state[LAUNCH_ERRORS] = [str(exc)]
    except ApiError as err:
        st.session_state[LAUNCH_ERRORS] = error_lines(err)
    else:
        st.session_state[LAUNCHED] = grid
        select_grid(grid["id"])


def launch_section(builtins: dict[str, str], expanded: bool) -> None:
    errors = st.session_state.get(LAUNCH_ERRORS, [])
    with st.expander("Launch a grid", expanded=expanded or bool(errors), icon=":material/rocket_launch:"):
        st.selectbox(
            "Start from a built-in grid",
            list(builtins),
            index=None,
            key=BUILTIN,
            placeholder="choose one to copy its YAML below, or write your own",
            on_change=_load_builtin,
            args=(builtins,),
        )
        st.text_area(
            "Grid definition (YAML)",
            key=YAML_TEXT,
            height=360,
            placeholder=EXAMPLE,
            help="Set `queue:` to send every cell to one worker queue; `experiment:` defaults to the name.",
        )
        st.button(
            "Submit grid",
            type="primary",
            icon=":material/rocket_launch:",
            key="grids_submit",
            on_click=_submit,
        )
        for line in errors:
            st.error(line, icon=":material/error:")
    grid = st.session_state.get(LAUNCHED)
    if grid:  # outside the expander, which closes once there are grids: the answer must stay in sight
        st.success(
            f"Grid #{grid['id']} {grid['name']}: {len(grid['cells'])} runs created, shown below.",
            icon=":material/check:",
        )


# ------------------------------------------------------------ grid list


def finished(grid: dict[str, Any]) -> int:
    return sum(n for status, n in grid["counts"].items() if status in FINAL_STATUSES)


def grid_label(grid: dict[str, Any]) -> str:
    failed = grid["counts"].get("failed", 0)
    tail = f", {failed} failed" if failed else ""
    total = sum(grid["counts"].values())
    return f"#{grid['id']} {grid['name']} · {grid['task']} · {finished(grid)}/{total} finished{tail}"


def _url_follows_selection() -> None:
    st.query_params["grid"] = str(st.session_state[SELECTED])


def missing_grid_notice(grids: list[dict[str, Any]]) -> None:
    """A link to a grid that is not there says so, rather than silently showing another grid."""
    param = st.query_params.get("grid", "")
    if param and param not in {str(g["id"]) for g in grids}:
        hint = "" if param.isdigit() else " (a grid id is a whole number)"
        st.error(f"Grid {param} not found{hint}.", icon=":material/search_off:")


def grid_picker(grids: list[dict[str, Any]]) -> int | None:
    """Newest first; ?grid=<id> (a shared link) picks the grid and follows the selection."""
    labels = {g["id"]: grid_label(g) for g in sorted(grids, key=lambda g: g["id"], reverse=True)}
    param = st.query_params.get("grid", "")
    if param in {str(i) for i in labels} and st.session_state.get(SELECTED) != int(param):
        st.session_state[SELECTED] = int(param)
    return st.selectbox(
        "Grid", list(labels), format_func=labels.__getitem__, key=SELECTED, on_change=_url_follows_selection
    )


# ------------------------------------------------------------ one grid: progress and cells


def status_counts(counts: dict[str, int]) -> str:
    """Coloured Markdown badges, in lifecycle order."""
    return " ".join(f":{STATUS_BADGE[s]}-badge[{s} {counts[s]}]" for s in RUN_STATUSES if counts.get(s))


def progress(grid: dict[str, Any]) -> None:
    """One bar split by cell status (done, failed, running, queued, waiting), then the counts as badges."""
    total, done = len(grid["cells"]), finished(grid)
    st.markdown(f"**{done}/{total} cells finished**")
    st.markdown(progress_bar_html(grid["counts"]), unsafe_allow_html=True)
    st.markdown(status_counts(grid["counts"]) or "No cells.")


def cells_frame(cells: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["key", "role", "run", "status", "attempt", "value", "error"]
    rows = [
        {
            "key": c["key"],
            "role": c["role"],
            "run": RUN_URL.format(c["run_id"]),
            "status": c["status"],
            "attempt": c["attempt"],
            "value": c["primary_metric"],
            "error": c["error"] or "",
        }
        for c in cells
    ]
    return pd.DataFrame(rows, columns=columns)


def cells_table(grid: dict[str, Any], metric: str) -> None:
    frame = cells_frame(grid["cells"])
    st.dataframe(
        frame.style.map(status_cell_style, subset=["status"]),
        hide_index=True,
        key="grids_cells",
        column_config={
            "run": st.column_config.LinkColumn("run", display_text=r"run=(\d+)", help="Open the run's page"),
            "value": st.column_config.NumberColumn(metric, format="%.3f", help="latest primary metric"),
        },
    )
    if grid["cells"]:
        labels = {c["run_id"]: f"#{c['run_id']} {c['key']}" for c in grid["cells"]}
        cols = st.columns([3, 2], vertical_alignment="center")
        run_id = cols[0].selectbox(
            "Open run",
            list(labels),
            format_func=labels.__getitem__,
            key="grids_open_run",
            label_visibility="collapsed",
        )
        with cols[1]:
            run_link(run_id)


def _retry(grid_id: int) -> None:
    try:
        grid = get_api().retry_grid(grid_id)
    except ApiError as err:
        st.session_state[RETRY_ANSWER] = (grid_id, "error", f"Retry refused: {err.message}")
        return
    st.session_state[RETRY_ANSWER] = (grid_id, "success", f"Retry accepted: {grid_label(grid)}.")


def retry_button(grid: dict[str, Any]) -> None:
    retryable = sum(c["status"] in RETRYABLE for c in grid["cells"])
    if retryable:
        st.button(
            f"Retry failed cells ({retryable})",
            icon=":material/replay:",
            key="grids_retry",
            on_click=_retry,
            args=(grid["id"],),
            help="Re-enqueue only failed or cancelled cells; students wait again for retried teachers.",
        )
    answer = st.session_state.get(RETRY_ANSWER)
    if answer and answer[0] == grid["id"]:
        (st.success if answer[1] == "success" else st.error)(answer[2])


# ------------------------------------------------------------ one grid: the report


def _num(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def report_frame(report: dict[str, Any]) -> pd.DataFrame:
    """The paper's table: one row per method x student model x teacher ensemble, aggregated over seeds."""
    return pd.DataFrame(
        [
            {
                "method": row_label(report, r),
                "student": r["model"],
                "teachers": r.get("ensemble") or "–",
                "n": f"{r['n']}/{r['seeds_total']}",
                "mean ± std": "–" if r["mean"] is None else f"{r['mean']:.2f} ± {r['std']:.2f}",
                "95 % CI": interval(r.get("ci_low"), r.get("ci_high")),
                "gap": r["gap"],
                "gap 95 % CI": interval(r.get("gap_ci_low"), r.get("gap_ci_high")),
                "gap red. vs KD": r["gap_reduction_vs_kd"],
                "gap red. 95 % CI": reduction_interval(r),
                "Ĥ": r["h_hat"],
            }
            for r in report["rows"]
        ],
        columns=[
            "method", "student", "teachers", "n", "mean ± std", "95 % CI", "gap", "gap 95 % CI",
            "gap red. vs KD", "gap red. 95 % CI", "Ĥ",
        ],
    )  # fmt: skip


def report_caption(report: dict[str, Any]) -> str:
    better = "higher" if report["goal"] == "max" else "lower"
    seeds = ", ".join(str(s) for s in report["seeds"]) or "none"
    ensembles = "; ".join(
        f"ensemble {t['ensemble']}: {t['succeeded']}/{t['members']} members succeeded, "
        f"member mean {_num(t['member_mean'])}, ensemble {_num(t.get('score'))}"
        for t in report["teachers"]
    )
    return (
        f"**{report['metric']}** ({better} is better) · teacher ensemble {_num(report['ensemble_score'])} · "
        f"seeds {seeds} · values are {report['selection']} {report['split']} metrics"
        + (f" · {ensembles}" if ensembles else "")
    )


def chart_frame(report: dict[str, Any]) -> pd.DataFrame:
    """What the chart plots: rows with a mean, labelled by method (and model when there are several)."""
    rows = [r for r in report["rows"] if r["mean"] is not None]
    several = len({r["model"] for r in rows}) > 1
    return pd.DataFrame(
        [
            {
                "label": f"{r['method']} · {r['model']}" if several else r["method"],
                "method": r["method"],
                "model": r["model"],
                "n": r["n"],
                "mean": r["mean"],
                "std": r["std"],
                "ensemble_score": report["ensemble_score"],
            }
            for r in rows
        ],
        columns=["label", "method", "model", "n", "mean", "std", "ensemble_score"],
    )


def report_figure(data: pd.DataFrame, metric: str, ensemble_score: float | None) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=data["label"],
            y=data["mean"],
            error_y={"type": "data", "array": data["std"].tolist(), "visible": True},
            name=metric,
        )
    )
    if ensemble_score is not None:
        fig.add_hline(
            y=ensemble_score,
            line_dash="dash",
            annotation_text=f"teacher ensemble {ensemble_score:.2f}",
            annotation_position="top left",
        )
    fig.update_layout(
        title=f"{metric} per method (mean ± std over seeds)",
        yaxis={"title": {"text": metric}, "rangemode": "tozero"},  # bars start at zero, or they exaggerate
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=380,
    )
    return fig


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "grid"


def downloads(grid: dict[str, Any], chart: pd.DataFrame) -> None:
    api, stem = get_api(), _file_stem(grid["name"])
    cols = st.columns(len(REPORT_FORMATS) + 1)
    for col, (fmt, (label, ext, mime)) in zip(cols, REPORT_FORMATS.items(), strict=False):
        col.download_button(
            label,
            data=partial(api.get_grid_report_text, grid["id"], fmt),  # fetched only on click
            file_name=f"{stem}-report.{ext}",
            mime=mime,
            on_click="ignore",
            key=f"grids_report_{fmt}",
            icon=":material/download:",
        )
    cols[-1].download_button(
        "Chart data (CSV)",
        chart.to_csv(index=False),
        file_name=f"{stem}-chart.csv",
        mime="text/csv",
        on_click="ignore",
        key="grids_chart_csv",
        icon=":material/download:",
    )


def report_section(grid: dict[str, Any], report: dict[str, Any]) -> None:
    st.markdown("#### Report")
    if not report["rows"]:
        st.info("This grid has no student cells, so there is nothing to compare.", icon=":material/info:")
        return
    st.dataframe(
        report_frame(report),
        hide_index=True,
        key="grids_report",
        column_config={
            "n": st.column_config.TextColumn("n", help="seeds that succeeded / seeds in the grid"),
            "mean ± std": st.column_config.TextColumn(f"{report['metric']} (mean ± std)"),
            "gap": st.column_config.NumberColumn("gap", format="%.2f", help="to the teacher ensemble"),
            "gap red. vs KD": st.column_config.NumberColumn("gap red. vs KD (%)", format="%+.0f"),
            "Ĥ": st.column_config.NumberColumn("Ĥ (%)", format="%.1f"),
        },
    )
    st.caption(report_caption(report))
    comparisons = comparisons_frame(report)
    if not comparisons.empty:
        st.markdown("##### Paired differences by seed")
        st.dataframe(
            comparisons,
            hide_index=True,
            key="grids_report_comparisons",
            column_config={
                "Δ (mean)": st.column_config.NumberColumn("Δ (mean)", format="%+.2f"),
                "sign p": st.column_config.NumberColumn(
                    "sign p", format="%.3f", help="exact two-sided sign test"
                ),
                "t p": st.column_config.NumberColumn("t p", format="%.3f", help="paired t-test"),
                "McNemar p": st.column_config.NumberColumn(
                    "McNemar p", format="%.3f", help="exact, on the stored per-sample test predictions"
                ),
            },
        )
    if report.get("kd_selection"):
        st.caption(f"KD reference (chosen on validation, never on test): {report['kd_selection']}.")
    st.caption(report["note"])
    chart = chart_frame(report)
    if chart.empty:
        st.info("No student has succeeded yet: the chart follows.", icon=":material/hourglass_empty:")
    else:
        st.plotly_chart(
            report_figure(chart, report["metric"], report["ensemble_score"]), key="grids_report_chart"
        )
    downloads(grid, chart)


def header(grid: dict[str, Any]) -> None:
    st.subheader(f"Grid #{grid['id']}: {grid['name']} · {grid['task']}")
    created = pd.Timestamp(grid["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
    description = grid["definition"].get("description") or ""
    st.caption(
        " · ".join(
            p for p in (f"experiment #{grid['experiment_id']}", f"created {created}", description) if p
        )
    )
    with st.expander("Definition"):
        st.json(grid["definition"], expanded=False)


# ------------------------------------------------------------ page


api = get_api()
st.title("Grids")
builtins = {b["name"]: b["yaml"] for b in call(api.list_builtin_grids)}
grids = call(api.list_grids, cells=False)
missing_grid_notice(grids)
launch_section(builtins, expanded=not grids)
if not grids:
    st.info("No grids yet: launch one above.", icon=":material/info:")
    st.stop()
grid_id = grid_picker(grids)
first = call(api.get_grid, grid_id)
live = not first["done"] and st.toggle(
    "Live refresh",
    value=True,
    key="grids_live",
    help=f"Reload every {REFRESH_SECONDS:g} s while cells are still to finish",
)


@st.fragment(run_every=REFRESH_SECONDS if live else None)
def grid_view(grid_id: int, shown_done: bool) -> None:
    grid = call(get_api().get_grid, grid_id)
    if grid["done"] != shown_done:
        st.rerun()  # a full rerun re-decides live refresh and the list's labels
    report = call(get_api().get_grid_report, grid_id)
    header(grid)
    progress(grid)
    cells_table(grid, report["metric"])
    retry_button(grid)
    report_section(grid, report)


grid_view(grid_id, first["done"])

"""Runs: every run, filtered, sorted and paged by the server, refreshed live."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

import streamlit as st

from dashboard.api import RUN_STATUSES, get_api
from dashboard.tables import runs_frame
from dashboard.ui import REFRESH_SECONDS, call, run_link, status_cell_style

SORTS = {
    "-id": "newest first",
    "id": "oldest first",
    "status": "status",
    "task": "task",
    "method": "method",
    "model": "model",
    "-created_at": "created (newest)",
}
PAGE_SIZES = (10, 25, 50, 100, 200)


@dataclass(frozen=True)
class RunQuery:
    experiment_id: int | None
    status: tuple[str, ...]
    task: tuple[str, ...]
    method: tuple[str, ...]
    sort: str
    limit: int


def filter_controls(catalog: dict[str, Any], experiments: list[dict[str, Any]]) -> RunQuery:
    """Filter widgets whose options come from the API (experiments, catalog), never from constants."""
    names = {e["id"]: f"{e['name']} (#{e['id']}, {e['run_count']} runs)" for e in experiments}
    top = st.columns([2, 2, 2, 2])
    experiment_id = top[0].selectbox(
        "Experiment",
        [None, *names],
        format_func=lambda i: "All experiments" if i is None else names[i],
        key="runs_experiment",
    )
    status = top[1].multiselect("Status", RUN_STATUSES, key="runs_status", placeholder="any status")
    task = top[2].multiselect(
        "Task", [t["name"] for t in catalog["tasks"]], key="runs_task", placeholder="any task"
    )
    method = top[3].multiselect(
        "Method", [m["name"] for m in catalog["methods"]], key="runs_method", placeholder="any method"
    )
    bottom = st.columns([2, 2, 4])
    sort = bottom[0].selectbox("Sort", list(SORTS), format_func=SORTS.__getitem__, key="runs_sort")
    limit = bottom[1].selectbox("Rows per page", PAGE_SIZES, index=2, key="runs_limit")
    return RunQuery(experiment_id, tuple(status), tuple(task), tuple(method), sort, limit)


def page_tokens(query: RunQuery) -> list[str | None]:
    """Tokens of the pages visited so far (last = current); reset whenever the filters change."""
    if st.session_state.get("runs_query") != astuple(query):
        st.session_state["runs_query"] = astuple(query)
        st.session_state["runs_tokens"] = [None]
    return st.session_state["runs_tokens"]


def _next_page(token: str) -> None:
    st.session_state["runs_tokens"].append(token)


def _previous_page() -> None:
    st.session_state["runs_tokens"].pop()


def runs_table(query: RunQuery, experiment_names: dict[int, str]) -> None:
    tokens = page_tokens(query)
    page = call(
        get_api().runs,
        experiment_id=query.experiment_id,
        status=list(query.status),
        task=list(query.task),
        method=list(query.method),
        sort=query.sort,
        limit=query.limit,
        page_token=tokens[-1],
    )
    frame = runs_frame(page["data"], experiment_names)
    if frame.empty:
        st.info("No runs match these filters. Start one on the Launch page.", icon=":material/info:")
    else:
        st.dataframe(
            frame.style.map(status_cell_style, subset=["status"]),
            hide_index=True,
            column_config={
                "id": st.column_config.NumberColumn("id", format="%d"),
                "value": st.column_config.NumberColumn("value", format="%.3f", help="latest primary metric"),
                "metric": st.column_config.TextColumn("metric", help="the task's primary metric"),
                "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm:ss"),
                "finished": st.column_config.DatetimeColumn("finished", format="YYYY-MM-DD HH:mm:ss"),
            },
        )

    nav = st.columns([1, 1, 2, 2, 2], vertical_alignment="center")
    nav[0].button(
        "Previous page", disabled=len(tokens) < 2, on_click=_previous_page, key="runs_prev", width="stretch"
    )
    nav[1].button(
        "Next page",
        disabled=page["next_page_token"] is None,
        on_click=_next_page,
        args=(page["next_page_token"],),
        key="runs_next",
        width="stretch",
    )
    nav[2].caption(f"Page {len(tokens)} · {len(frame)} runs shown")
    nav[3].download_button(
        "Download CSV",
        frame.to_csv(index=False),
        file_name="runs.csv",
        mime="text/csv",
        on_click="ignore",
        key="runs_csv",
        help="The rows shown on this page.",
        icon=":material/download:",
    )
    if not frame.empty:
        with nav[4]:
            run_id = st.selectbox(
                "Open run", frame["id"].tolist(), key="runs_open", label_visibility="collapsed"
            )
            run_link(run_id)


api = get_api()
st.title("Runs")
catalog = call(api.catalog)
experiments = call(api.experiments)
query = filter_controls(catalog, experiments)
live = st.toggle(
    "Live refresh", value=True, key="runs_live", help=f"Reload the table every {REFRESH_SECONDS:g} s"
)


# Only the table refreshes, so the filter widgets above keep their state and focus.
@st.fragment(run_every=REFRESH_SECONDS if live else None)
def live_table(query: RunQuery, experiment_names: dict[int, str]) -> None:
    runs_table(query, experiment_names)


live_table(query, {e["id"]: e["name"] for e in experiments})

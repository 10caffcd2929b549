"""Runs: every run, filtered, sorted and paged by the server, refreshed live; chosen columns, tags and notes,
saved views, and a Compare button for the selected runs."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

import streamlit as st

from dashboard.api import RUN_STATUSES, get_api
from dashboard.progress import progress_text, run_progress
from dashboard.tables import DEFAULT_COLUMNS, column_sources, research_frame, source_of
from dashboard.ui import REFRESH_SECONDS, RUN_PAGE, call, last_epoch, status_cell_style
from dashboard.url_state import MAX_SEARCH, URL_KEYS, from_query, to_query
from xclab.client import ApiError

COMPARE_PAGE = "app_pages/compare.py"
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
DEFAULT_PAGE_SIZE = 50
COMPARE_MAX = 20
# Widget keys of everything a saved view restores.
EXPERIMENT, STATUS, TASK, METHOD, TAGS = (
    "runs_experiment",
    "runs_status",
    "runs_task",
    "runs_method",
    "runs_tags",
)
SORT, LIMIT, COLUMNS, VIEW = "runs_sort", "runs_limit", "runs_columns", "runs_view"
SELECTED = "runs_selected"
SEARCH = "runs_search"
RERUN_APP = "runs_rerun_app"
COMPARE_REQUEST = "runs_compare_request"
VIEW_ANSWER, EDIT_ANSWER = "runs_view_answer", "runs_edit_answer"
TABLE, PAGE_IDS, OPEN_REQUEST, URL_SEEN = "runs_table", "runs_page_ids", "runs_open_request", "runs_url_seen"


@dataclass(frozen=True)
class RunQuery:
    experiment_id: int | None
    status: tuple[str, ...]
    task: tuple[str, ...]
    method: tuple[str, ...]
    tags: tuple[str, ...]
    search: str
    sort: str
    limit: int

    def filters(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "status": list(self.status),
            "task": list(self.task),
            "method": list(self.method),
            "tags": list(self.tags),
            "search": self.search,
        }


def _defaults() -> None:
    # Defaults go into session state (not the widgets), so loading a view can overwrite them without warnings.
    for key, value in ((SORT, "-id"), (LIMIT, DEFAULT_PAGE_SIZE), (COLUMNS, list(DEFAULT_COLUMNS))):
        st.session_state.setdefault(key, value)


def metric_sorts(columns: list[str], sources: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Server-side sorts for the chosen metric columns, best-first and worst-first."""
    sorts = {}
    for label in columns:
        kind, key = source_of(label, sources)
        if kind == "metric":
            sorts[f"-metric:{key}"] = f"{key} (high → low)"
            sorts[f"metric:{key}"] = f"{key} (low → high)"
    return sorts


# ------------------------------------------------------------ saved views


def _load_view(views: dict[int, dict[str, Any]], experiment_ids: set[int], catalog: dict[str, Any]) -> None:
    """Selectbox callback: put the view's filters, sort, columns and page size into the widgets."""
    view_id = st.session_state.get(VIEW)
    if view_id is None or view_id not in views:
        return
    apply_params(views[view_id]["params"], experiment_ids, catalog)
    st.session_state[VIEW_ANSWER] = ("success", f"Loaded view '{views[view_id]['name']}'.")


def apply_params(params: dict[str, Any], experiment_ids: set[int], catalog: dict[str, Any]) -> None:
    """Put saved filters, sort, columns and page size (a view's or the URL's) into the widgets; names that no
    longer exist are dropped, so a stale link or view never breaks the page."""
    filters = params.get("filters", {})
    experiment_id = filters.get("experiment_id")
    st.session_state[EXPERIMENT] = experiment_id if experiment_id in experiment_ids else None
    st.session_state[STATUS] = [s for s in filters.get("status", []) if s in RUN_STATUSES]
    st.session_state[TASK] = [
        t for t in filters.get("task", []) if t in {x["name"] for x in catalog["tasks"]}
    ]
    methods = {m["name"] for m in catalog["methods"]}
    st.session_state[METHOD] = [m for m in filters.get("method", []) if m in methods]
    st.session_state[TAGS] = list(filters.get("tags", []))
    st.session_state[SEARCH] = str(filters.get("search") or "")[:MAX_SEARCH]
    st.session_state[SORT] = params.get("sort") or "-id"
    st.session_state[LIMIT] = params.get("page_size") or DEFAULT_PAGE_SIZE
    st.session_state[COLUMNS] = list(params.get("columns") or DEFAULT_COLUMNS)


def _current_params() -> dict[str, Any]:
    state = st.session_state
    return {
        "filters": {
            "experiment_id": state.get(EXPERIMENT),
            "status": list(state.get(STATUS, [])),
            "task": list(state.get(TASK, [])),
            "method": list(state.get(METHOD, [])),
            "tags": list(state.get(TAGS, [])),
            "search": (state.get(SEARCH) or "").strip(),
        },
        "sort": state.get(SORT, "-id"),
        "columns": list(state.get(COLUMNS, DEFAULT_COLUMNS)),
        "page_size": state.get(LIMIT, DEFAULT_PAGE_SIZE),
    }


def _save_view() -> None:
    name = (st.session_state.get("runs_view_name") or "").strip()
    if not name:
        st.session_state[VIEW_ANSWER] = ("error", "Give the view a name first.")
        return
    try:
        view = get_api().create_view(name, _current_params())
    except ApiError as err:
        st.session_state[VIEW_ANSWER] = ("error", f"Saving the view failed: {err.message}")
        return
    st.session_state[VIEW] = view["id"]
    st.session_state[VIEW_ANSWER] = ("success", f"Saved view '{view['name']}'.")


def _delete_view(views: dict[int, dict[str, Any]]) -> None:
    view_id = st.session_state.get(VIEW)
    if view_id is None:
        return
    try:
        get_api().delete_view(view_id)
    except ApiError as err:
        st.session_state[VIEW_ANSWER] = ("error", f"Deleting the view failed: {err.message}")
        return
    st.session_state[VIEW] = None
    name = views[view_id]["name"] if view_id in views else f"#{view_id}"
    st.session_state[VIEW_ANSWER] = ("success", f"Deleted view '{name}'.")


def view_controls(experiment_ids: set[int], catalog: dict[str, Any]) -> None:
    views = {v["id"]: v for v in call(get_api().list_views)}
    if st.session_state.get(VIEW) not in views:
        st.session_state[VIEW] = None
    cols = st.columns([3, 3, 1, 1], vertical_alignment="bottom")
    cols[0].selectbox(
        "Saved view",
        [None, *views],
        format_func=lambda i: "(current settings)" if i is None else views[i]["name"],
        key=VIEW,
        on_change=_load_view,
        args=(views, experiment_ids, catalog),
        help="Load a saved set of filters, sort, columns and page size.",
    )
    cols[1].text_input("View name", key="runs_view_name", placeholder="name for the current settings")
    cols[2].button("Save view", key="runs_view_save", on_click=_save_view, icon=":material/save:")
    cols[3].button(
        "Delete view",
        key="runs_view_delete",
        on_click=_delete_view,
        args=(views,),
        disabled=st.session_state.get(VIEW) is None,
        icon=":material/delete:",
    )
    answer = st.session_state.pop(VIEW_ANSWER, None)
    if answer:
        (st.success if answer[0] == "success" else st.error)(answer[1])


# ------------------------------------------------------------ filters and columns


def _options(known: list[Any], chosen: list[Any]) -> list[Any]:
    """Options that always contain the current choice (a saved view may name something no run has now)."""
    return [*known, *(c for c in chosen if c not in known)]


def filter_controls(
    catalog: dict[str, Any], experiments: list[dict[str, Any]]
) -> tuple[RunQuery, list[str], dict[str, tuple[str, str]]]:
    """Filter widgets whose options come from the API (experiments, catalog, tags and columns of the runs)."""
    names = {e["id"]: f"{e['name']} (#{e['id']}, {e['run_count']} runs)" for e in experiments}
    if st.session_state.get(EXPERIMENT) not in names:
        st.session_state[EXPERIMENT] = None
    top = st.columns([2, 2, 2, 2, 2])
    experiment_id = top[0].selectbox(
        "Experiment",
        [None, *names],
        format_func=lambda i: "All experiments" if i is None else names[i],
        key=EXPERIMENT,
    )
    status = top[1].multiselect("Status", RUN_STATUSES, key=STATUS, placeholder="any status")
    task = top[2].multiselect("Task", [t["name"] for t in catalog["tasks"]], key=TASK, placeholder="any task")
    method = top[3].multiselect(
        "Method", [m["name"] for m in catalog["methods"]], key=METHOD, placeholder="any method"
    )
    chosen_tags = list(st.session_state.get(TAGS, []))
    info = call(
        get_api().get_run_columns,
        experiment_id=experiment_id,
        status=status,
        task=task,
        method=method,
        tags=chosen_tags,
    )
    tags = top[4].multiselect(
        "Tags",
        _options(info["tags"], chosen_tags),
        key=TAGS,
        placeholder="any tags",
        help="Runs carrying every chosen tag.",
    )

    sources = column_sources(info)
    columns = st.multiselect(
        "Columns",
        _options(list(sources), list(st.session_state[COLUMNS])),
        key=COLUMNS,
        help="Built-in columns, spec fields (model.width), hyperparameters (hparams.lr) and metrics "
        f"(latest values); spec fields come from the newest {info['sampled_runs']} matching runs.",
    )
    sorts = {**SORTS, **metric_sorts(columns, sources)}
    if st.session_state[SORT] not in sorts:  # its metric column was just removed
        st.session_state[SORT] = "-id"
    bottom = st.columns([4, 2, 2], vertical_alignment="bottom")
    search = bottom[0].text_input(
        "Search",
        key=SEARCH,
        max_chars=MAX_SEARCH,
        placeholder="words in name, method, model, status, notes or tags; #id",
        help="Every word must appear (case-insensitive), e.g. `kd failed` or `baseline`.",
    )
    sort = bottom[1].selectbox(
        "Sort", list(sorts), format_func=sorts.__getitem__, key=SORT, help="Sorted on the server."
    )
    page_sizes = sorted({*PAGE_SIZES, st.session_state[LIMIT]})
    limit = bottom[2].selectbox("Rows per page", page_sizes, key=LIMIT)
    query = RunQuery(
        experiment_id, tuple(status), tuple(task), tuple(method), tuple(tags), search.strip(), sort, limit
    )
    return query, columns, sources


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


# ------------------------------------------------------------ selected runs: compare, tags and notes


def parse_tags(text: str) -> list[str]:
    return [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]


def _answer_error(err: ApiError) -> str:
    fields = [f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e['msg']}" for e in err.field_errors]
    return "; ".join(fields) if fields else err.message


def _save_one(run_id: int) -> None:
    tags = parse_tags(st.session_state.get(f"runs_edit_tags_{run_id}", ""))
    notes = st.session_state.get(f"runs_edit_notes_{run_id}", "")
    try:
        run = get_api().annotate_run(run_id, tags=tags, notes=notes)
    except ApiError as err:
        st.session_state[EDIT_ANSWER] = ([run_id], "error", f"Run #{run_id} not saved: {_answer_error(err)}")
        return
    shown = ", ".join(run["tags"]) or "none"
    st.session_state[EDIT_ANSWER] = ([run_id], "success", f"Saved run #{run_id}: tags {shown}.")


def _save_many(run_ids: list[int]) -> None:
    add = parse_tags(st.session_state.get("runs_edit_add", ""))
    remove = {t.lower() for t in parse_tags(st.session_state.get("runs_edit_remove", ""))}
    api = get_api()
    try:
        for run_id in run_ids:
            current = api.get_run(run_id)["tags"]
            tags = [t for t in [*current, *add] if t.lower() not in remove]
            api.annotate_run(run_id, tags=tags)
    except ApiError as err:
        st.session_state[EDIT_ANSWER] = (run_ids, "error", f"Run #{run_id} not saved: {_answer_error(err)}")
        return
    st.session_state[EDIT_ANSWER] = (run_ids, "success", f"Updated the tags of {len(run_ids)} runs.")


def annotate_form(selected: list[int]) -> None:
    """Tags and notes of one selected run, or tags added to / removed from several."""
    if len(selected) == 1:
        run_id = selected[0]
        run = call(get_api().get_run, run_id)
        with st.form(f"runs_edit_form_{run_id}", border=False):
            st.text_input(
                f"Tags of run #{run_id}",
                value=", ".join(run["tags"]),
                key=f"runs_edit_tags_{run_id}",
                help="Comma-separated; up to 20 tags of letters, digits and _ . : - (stored lower-case).",
            )
            st.text_area(f"Notes on run #{run_id}", value=run["notes"], key=f"runs_edit_notes_{run_id}")
            st.form_submit_button(
                "Save tags and notes",
                key="runs_edit_save",
                on_click=_save_one,
                args=(run_id,),
                icon=":material/sell:",
            )
    else:
        with st.form("runs_edit_form_many", border=False):
            st.text_input("Add tags", key="runs_edit_add", placeholder="baseline, paper:table-2")
            st.text_input("Remove tags", key="runs_edit_remove")
            st.form_submit_button(
                f"Update tags of {len(selected)} runs",
                on_click=_save_many,
                key="runs_edit_save_many",
                args=(list(selected),),
                icon=":material/sell:",
            )
    # Kept (not popped) until the next save, and shown while the same runs are selected: no refresh or
    # unrelated click makes it vanish, and it never speaks about other runs.
    answer = st.session_state.get(EDIT_ANSWER)
    if answer and list(answer[0]) == list(selected):
        (st.success if answer[1] == "success" else st.error)(answer[2])


def _open_compare(selected: list[int]) -> None:
    st.session_state[COMPARE_REQUEST] = ",".join(map(str, selected))


def selection_controls(page_ids: list[int]) -> None:
    """Pick runs (across pages), compare them, or edit their tags and notes."""
    chosen = [i for i in st.session_state.get(SELECTED, []) if isinstance(i, int)]
    selected = st.multiselect(
        "Selected runs",
        _options(page_ids, chosen),
        key=SELECTED,
        format_func=lambda i: f"#{i}",
        max_selections=COMPARE_MAX,
        placeholder="pick runs to compare or tag (they stay picked across pages)",
    )
    cols = st.columns([1, 5], vertical_alignment="center")
    with cols[0]:
        # A button, not a page link: a link's query parameters do not reach the browser's address.
        st.button(
            "Compare",
            key="runs_compare",
            icon=":material/compare_arrows:",
            disabled=not 2 <= len(selected) <= COMPARE_MAX,
            on_click=_open_compare,
            args=(list(selected),),
            help=f"Side by side: spec differences, learning curves, metrics (2 to {COMPARE_MAX} runs).",
        )
    if selected:
        with cols[1].expander(f"Tags and notes ({len(selected)} selected)", icon=":material/sell:"):
            annotate_form(selected)


# ------------------------------------------------------------ the table


def _table_clicked() -> None:
    """Table selection callback. A clicked cell opens its run (the switch happens on the full rerun, never
    inside the refreshing fragment); the ticked checkboxes are this page's share of the selected runs, which
    are kept across pages and in the URL."""
    selection = st.session_state[TABLE].selection
    page_ids = st.session_state.get(PAGE_IDS, [])
    cells = selection.get("cells") or []
    if cells and cells[0][0] < len(page_ids):
        st.session_state[OPEN_REQUEST] = page_ids[cells[0][0]]
        return
    ticked = [page_ids[r] for r in sorted(selection.get("rows", [])) if r < len(page_ids)]
    before = [i for i in st.session_state.get(SELECTED, []) if i not in page_ids or i in ticked]
    st.session_state[SELECTED] = [*before, *(i for i in ticked if i not in before)][:COMPARE_MAX]
    st.session_state[RERUN_APP] = True  # the selection widgets and the URL live outside the fragment


def tick_selected(page_ids: list[int]) -> None:
    """The table's checkboxes show the selected runs on this page, however they were picked."""
    chosen = st.session_state.get(SELECTED, [])
    rows = [page_ids.index(i) for i in chosen if i in page_ids]
    st.session_state[TABLE] = {"selection": {"rows": rows, "columns": [], "cells": []}}


def runs_table(
    query: RunQuery,
    experiment_names: dict[int, str],
    columns: list[str],
    sources: dict[str, tuple[str, str]],
) -> None:
    if st.session_state.get(OPEN_REQUEST) is not None or st.session_state.pop(RERUN_APP, False):
        st.rerun(scope="app")  # the page script switches to the run
    tokens = page_tokens(query)
    page = call(
        get_api().list_runs, **query.filters(), sort=query.sort, limit=query.limit, page_token=tokens[-1]
    )
    shown = columns or ["id"]
    if "progress" in shown:
        for run in page["data"]:
            if run["status"] == "running":
                run["progress"] = progress_text(run_progress(run, last_epoch(run)))
    frame = research_frame(page["data"], experiment_names, shown, sources)
    st.session_state[PAGE_IDS] = [run["id"] for run in page["data"]]
    if frame.empty:
        st.info("No runs match these filters. Start one on the Launch page.", icon=":material/info:")
    else:
        config: dict[str, Any] = {
            "id": st.column_config.NumberColumn("id", format="%d"),
            "name": st.column_config.TextColumn("name", help="method · model@width · seed"),
            "progress": st.column_config.TextColumn("progress", help="Running runs: epoch, elapsed, ETA"),
            "width": st.column_config.NumberColumn("width", format="%g"),
            "value": st.column_config.NumberColumn("value", format="%.3f", help="latest primary metric"),
            "metric": st.column_config.TextColumn("metric", help="the task's primary metric"),
            "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm:ss"),
            "finished": st.column_config.DatetimeColumn("finished", format="YYYY-MM-DD HH:mm:ss"),
        }
        for label in shown:
            if source_of(label, sources)[0] == "metric":
                config[label] = st.column_config.NumberColumn(label, format="%.4g", help="latest value")
        styled = frame.style.map(status_cell_style, subset=["status"]) if "status" in frame else frame
        tick_selected(st.session_state[PAGE_IDS])
        st.dataframe(
            styled,
            hide_index=True,
            column_config=config,
            key=TABLE,
            on_select=_table_clicked,
            selection_mode=["multi-row", "single-cell"],
            placeholder="–",
        )
        st.caption(
            "Click a cell to open its run; tick rows' checkboxes to select them for Compare or tagging "
            f"(up to {COMPARE_MAX}, kept across pages)."
        )

    nav = st.columns([1, 1, 3, 2], vertical_alignment="center")
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
    first = (len(tokens) - 1) * query.limit
    total = call(get_api().count_runs, **query.filters())
    nav[2].caption(
        f"Page {len(tokens)} · runs {first + 1 if len(frame) else 0}–{first + len(frame)} of {total:,}"
    )
    nav[3].download_button(
        "Download CSV",
        frame.to_csv(index=False),
        file_name="runs.csv",
        mime="text/csv",
        on_click="ignore",
        key="runs_csv",
        help="The rows and columns shown on this page.",
        icon=":material/download:",
    )


def sync_from_url(experiment_ids: set[int], catalog: dict[str, Any]) -> None:
    """A link's filters, sort, columns and selection win over what this session remembers; once read, the
    session's own choices are written back (write_url), so the address is always shareable."""
    query = {k: st.query_params[k] for k in URL_KEYS if k in st.query_params}
    if not query or query == st.session_state.get(URL_SEEN):
        return
    params, selected = from_query(query)
    apply_params(params, experiment_ids, catalog)
    if params["page_size"] is None:
        st.session_state[LIMIT] = DEFAULT_PAGE_SIZE
    st.session_state[SELECTED] = selected[:COMPARE_MAX]


def write_url() -> None:
    query = to_query(_current_params(), list(st.session_state.get(SELECTED, [])), DEFAULT_COLUMNS)
    if query.get("rows") == str(DEFAULT_PAGE_SIZE):
        del query["rows"]
    if {k: st.query_params[k] for k in URL_KEYS if k in st.query_params} != query:
        st.query_params.from_dict(query)
    st.session_state[URL_SEEN] = query


api = get_api()
st.title("Runs")
_defaults()
if (open_id := st.session_state.pop(OPEN_REQUEST, None)) is not None:
    st.switch_page(RUN_PAGE, query_params={"run": str(open_id)})
if compare_ids := st.session_state.pop(COMPARE_REQUEST, None):
    st.switch_page(COMPARE_PAGE, query_params={"ids": compare_ids})
catalog = call(api.get_catalog)
experiments = call(api.list_experiments)
sync_from_url({e["id"] for e in experiments}, catalog)
view_controls({e["id"] for e in experiments}, catalog)
query, columns, sources = filter_controls(catalog, experiments)
live = st.toggle(
    "Live refresh", value=True, key="runs_live", help=f"Reload the table every {REFRESH_SECONDS:g} s"
)


# Only the table refreshes, so the filter widgets above and the selection below keep their state and focus.
@st.fragment(run_every=REFRESH_SECONDS if live else None)
def live_table(
    query: RunQuery, experiment_names: dict[int, str], columns: list[str], sources: dict[str, tuple[str, str]]
) -> None:
    runs_table(query, experiment_names, columns, sources)


live_table(query, {e["id"]: e["name"] for e in experiments}, columns, sources)
selection_controls(st.session_state.get(PAGE_IDS, []))
write_url()

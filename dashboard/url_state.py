"""The runs table's filters, sort, columns and selection as URL query parameters, so a view can be shared.

Pure functions over the saved-view shape ({"filters": {...}, "sort", "columns", "page_size"}) plus the
selected run ids; no Streamlit here.
"""

from __future__ import annotations

from typing import Any

MAX_SEARCH = 200  # what the API accepts
LISTS = {"status": "status", "task": "task", "method": "method", "tags": "tags"}


def _split(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def _ids(text: str) -> list[int]:
    return [int(p) for p in _split(text) if p.isdigit() and int(p) > 0]


def to_query(params: dict[str, Any], selected: list[int], default_columns: list[str]) -> dict[str, str]:
    """Only what differs from a fresh page, so a plain link stays plain."""
    filters = params.get("filters", {})
    query: dict[str, str] = {}
    if filters.get("experiment_id") is not None:
        query["experiment"] = str(filters["experiment_id"])
    for name in LISTS:
        if filters.get(name):
            query[name] = ",".join(filters[name])
    if (filters.get("search") or "").strip():
        query["q"] = filters["search"].strip()
    if params.get("sort") and params["sort"] != "-id":
        query["sort"] = params["sort"]
    if params.get("page_size"):
        query["rows"] = str(params["page_size"])
    if params.get("columns") and list(params["columns"]) != list(default_columns):
        query["columns"] = ",".join(params["columns"])
    if selected:
        query["selected"] = ",".join(map(str, selected))
    return query


def from_query(query: dict[str, str]) -> tuple[dict[str, Any], list[int]]:
    """The view-shaped params and selected ids a link names; malformed parts are dropped, never raised."""
    experiment = query.get("experiment", "")
    filters: dict[str, Any] = {"experiment_id": int(experiment) if experiment.isdigit() else None}
    for name in LISTS:
        filters[name] = _split(query.get(name, ""))
    filters["search"] = query.get("q", "")[:MAX_SEARCH]
    rows = query.get("rows", "")
    params: dict[str, Any] = {
        "filters": filters,
        "sort": query.get("sort") or "-id",
        "page_size": int(rows) if rows.isdigit() and 1 <= int(rows) <= 1000 else None,
        "columns": _split(query.get("columns", "")) or None,
    }
    return params, _ids(query.get("selected", ""))


URL_KEYS = ("experiment", *LISTS, "q", "sort", "rows", "columns", "selected")

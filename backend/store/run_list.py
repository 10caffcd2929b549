"""The runs table: filters, sorts (a column or a metric's latest value) and keyset pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, or_, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from backend.errors import invalid
from backend.models import LatestMetric, Run, RunParam, RunTag
from backend.store import page_tokens
from backend.store.page_tokens import METRIC_SORT
from backend.store.run_rows import RUN_COLUMNS, RunRow, read_runs

SORTABLE = {
    "id": Run.id,
    "created_at": Run.created_at,
    "status": Run.status,
    "task": Run.task,
    "method": Run.method,
    "model": Run.model,
}
METRIC_KEY = re.compile(r"[A-Za-z0-9_.\-/]{1,250}")  # what MetricIn accepts
MAX_SEARCH_CHARS = 200
# A listed run: a row of RUN_COLUMNS, as a SQLAlchemy Row or a `RunRow` (same order, same attribute names).
PageRun = Row[Any] | RunRow
FIELD_PATH = re.compile(r"(spec|hparams)((?:\.[A-Za-z0-9_]+)+)")


@dataclass
class RunFilter:
    experiment_id: int | None = None
    status: Sequence[str] = ()
    task: Sequence[str] = ()
    method: Sequence[str] = ()
    tags: Sequence[str] = ()  # a run must carry every one of them
    params: Sequence[str] = ()  # "key:value", every one must match
    fields: Sequence[str] = ()  # "spec.model.name:value" or "hparams.lr:0.1", every one must match
    search: str = (
        ""  # words that must each appear in the run's name, method, model, task, status, notes or a tag
    )


def normalise_tag(tag: str) -> str:
    """Tags compare case-insensitively and without surrounding blanks: stored and matched in this form."""
    return tag.strip().lower()


def filter_conditions(flt: RunFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if flt.experiment_id is not None:
        conditions.append(Run.experiment_id == flt.experiment_id)
    if flt.status:
        conditions.append(Run.status.in_(flt.status))
    if flt.task:
        conditions.append(Run.task.in_(flt.task))
    if flt.method:
        conditions.append(Run.method.in_(flt.method))
    # One semi-join per tag, each answered from the (tag, run_id) index.
    for tag in dict.fromkeys(normalise_tag(t) for t in flt.tags if t.strip()):
        conditions.append(Run.id.in_(select(RunTag.run_id).where(RunTag.tag == tag)))
    # Likewise per param, from the (key, value, run_id) index; values compare as text (see run_params.encode).
    for key, value in dict.fromkeys(_pair(p, "param", "arch:resnet50") for p in flt.params):
        conditions.append(
            Run.id.in_(select(RunParam.run_id).where(RunParam.key == key, RunParam.value == value))
        )
    for path, value in dict.fromkeys(_pair(f, "field", "spec.model.name:resnet18") for f in flt.fields):
        conditions.append(_json_field(path) == value)
    conditions.extend(_search_conditions(flt.search))
    return conditions


MAX_SEARCH_WORDS = 8


def _search_conditions(text: str) -> list[ColumnElement[bool]]:
    """Each word (case-insensitive) in one of the run's text columns or tags, or `#12`/`12` as its id. A
    substring scan, not indexed: fine for the table's tens of thousands of runs, a scan per word."""
    conditions: list[ColumnElement[bool]] = []
    for word in text.lower().split()[:MAX_SEARCH_WORDS]:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches = [
            column.ilike(pattern, escape="\\")
            for column in (Run.name, Run.method, Run.model, Run.task, Run.status, Run.notes)
        ]
        matches.append(Run.id.in_(select(RunTag.run_id).where(RunTag.tag.like(pattern, escape="\\"))))
        if word.lstrip("#").isdigit() and len(word) < 12:
            matches.append(Run.id == int(word.lstrip("#")))
        conditions.append(or_(*matches))
    return conditions


def _pair(text: str, name: str, example: str) -> tuple[str, str]:
    key, sep, value = text.partition(":")
    if not sep or not key:
        raise invalid(("query", name), f"expected {name}=<key>:<value>, e.g. {name}={example}", text)
    return key, value


def _json_field(path: str) -> ColumnElement[str]:
    """A spec or hparams leaf as text: JSON strings as they are, numbers as printed, booleans true/false on
    PostgreSQL and 1/0 on SQLite. Not indexed: combine with an indexed filter (experiment, param, tag) at scale."""
    match = FIELD_PATH.fullmatch(path)
    if match is None:
        raise invalid(
            ("query", "field"),
            "expected field=spec.<path>:<value> or field=hparams.<path>:<value>, the path dotted names "
            "(see GET /runs/columns)",
            path,
        )
    column = Run.spec if match.group(1) == "spec" else Run.hparams
    return cast(column[tuple(match.group(2)[1:].split("."))].as_string(), String)


def parse_sort(sort: str) -> tuple[bool, str, str | None]:
    """(descending, sort name, metric key or None) of `col`, `-col`, `metric:<key>` or `-metric:<key>`."""
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    if name.startswith(METRIC_SORT) and METRIC_KEY.fullmatch(name[len(METRIC_SORT) :]):
        return descending, name, name[len(METRIC_SORT) :]
    if name not in SORTABLE:
        allowed = ", ".join(f"{c}, -{c}" for c in SORTABLE)
        raise invalid(
            ("query", "sort"),
            f"cannot sort by '{sort}'; allowed: {allowed}, metric:<key>, -metric:<key>",
            sort,
        )
    return descending, name, None


def _column_page(
    session: Session,
    conditions: list[ColumnElement[bool]],
    column: ColumnElement[Any],
    descending: bool,
    limit: int,
    after: tuple[Any, int] | None,
) -> list[tuple[PageRun, Any]]:
    if after is not None:
        value, last_id = after
        if descending:
            conditions = [*conditions, or_(column < value, and_(column == value, Run.id < last_id))]
        else:
            conditions = [*conditions, or_(column > value, and_(column == value, Run.id > last_id))]
    order = [column.desc(), Run.id.desc()] if descending else [column.asc(), Run.id.asc()]
    stmt = (
        select(*RUN_COLUMNS, column.label("sort_value")).where(*conditions).order_by(*order).limit(limit + 1)
    )
    return [(row, row.sort_value) for row in session.execute(stmt).all()]


def _metric_page(
    session: Session,
    conditions: list[ColumnElement[bool]],
    key: str,
    descending: bool,
    limit: int,
    after: tuple[Any, int] | None,
) -> list[tuple[PageRun, Any]]:
    """The next limit + 1 runs by (latest value of `key`, id), then the runs without it by id.

    Two index-ordered reads instead of sorting every run: the runs with a value walk the
    (key, value, run_id) index from the page token on (a row-value bound both databases seek to);
    the runs without one follow by primary key, each checked against latest_metric's primary key."""
    found: list[tuple[int, float | None]] = []
    if after is None or after[0] is not None:
        metric = LatestMetric
        stmt = select(metric.run_id, metric.value).where(metric.key == key)
        if conditions:
            stmt = stmt.join(Run, Run.id == metric.run_id).where(*conditions)
        position = tuple_(metric.value, metric.run_id)
        if after is not None:
            stmt = stmt.where(position < tuple_(*after) if descending else position > tuple_(*after))
        order = [metric.value.desc(), metric.run_id.desc()] if descending else [metric.value, metric.run_id]
        found = [
            (run_id, value) for run_id, value in session.execute(stmt.order_by(*order).limit(limit + 1)).all()
        ]
    if len(found) <= limit:
        logged = select(LatestMetric.run_id).where(LatestMetric.run_id == Run.id, LatestMetric.key == key)
        stmt = select(Run.id).where(*conditions, ~logged.exists())
        if after is not None and after[0] is None:
            stmt = stmt.where(Run.id < after[1] if descending else Run.id > after[1])
        stmt = stmt.order_by(Run.id.desc() if descending else Run.id.asc()).limit(limit + 1 - len(found))
        found += [(run_id, None) for run_id in session.scalars(stmt).all()]
    runs = read_runs(session, [run_id for run_id, _ in found])
    return [(runs[run_id], value) for run_id, value in found if run_id in runs]


def list_runs(
    session: Session, flt: RunFilter, sort: str, limit: int, page_token: str | None
) -> tuple[list[PageRun], str | None]:
    """Keyset pagination over (sort value, id), so deep pages cost the same as the first. The runs come as rows
    of the run table (every column; ORM objects for a page cost more than reading it), without their
    collections: read those for the page with `run_details.run_details`.

    `metric:<key>` sorts by each run's latest value of that metric; runs that never logged it come last."""
    descending, name, metric_key = parse_sort(sort)
    conditions = filter_conditions(flt)
    after = page_tokens.decode(page_token, name) if page_token else None
    if metric_key is None:
        rows = _column_page(session, conditions, SORTABLE[name], descending, limit, after)
    else:
        rows = _metric_page(session, conditions, metric_key, descending, limit, after)
    next_token = None
    if len(rows) > limit:
        last, value = rows[limit - 1]
        next_token = page_tokens.encode(value, last.id)
    return [run for run, _ in rows[:limit]], next_token

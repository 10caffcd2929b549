"""What a runs page shows beside each run's own columns (latest metrics, tags, teachers, params), read for a
whole page in up to four index reads of plain rows, through the driver's cursor: building an ORM object per metric
and param of every run cost more than the query that chose the runs, and SQLAlchemy's statement and result
handling of four small reads about as much again (1.2 ms of a 100-run page's 2.8 ms on SQLite). A run's params
come with its row (`Run.params_json`); only runs stored without that column's value have theirs read here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from backend.store.driver import among_ids, driver_cursor
from backend.store.run_params import ParamValue, decode

# (table, id column, selected columns, order); names are fixed here, ids are bound parameters.
_READS = {
    "summary": ("latest_metric", "run_id", "key, value", "run_id, key"),
    "tags": ("run_tag", "run_id", "tag", "run_id, tag"),
    "teachers": ("run_teacher", "student_id", "teacher_id", "student_id, position"),
    "params": ("run_param", "run_id", "key, value, type", "run_id, key"),
}


@dataclass
class RunDetails:
    summary: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    teachers: list[int] = field(default_factory=list)
    params: dict[str, ParamValue] = field(default_factory=dict)


def _rows(cursor: Any, postgres: bool, part: str, ids: list[int]) -> list[tuple[Any, ...]]:
    table, column, selected, order = _READS[part]
    where, params = among_ids(column, ids, postgres)
    cursor.execute(f"SELECT {column}, {selected} FROM {table} WHERE {where} ORDER BY {order}", params)
    return cursor.fetchall()


def run_details(
    session: Session,
    run_ids: Sequence[int],
    with_teachers: bool = True,
    params: Mapping[int, dict[str, ParamValue]] | None = None,
) -> dict[int, RunDetails]:
    """`with_teachers=False` skips the teachers' read for a page none of whose runs has teachers; `params`, the
    params of the runs whose row holds them (`Run.params_json`), which are then not read."""
    known = params or {}
    details = {run_id: RunDetails(params=known.get(run_id, {})) for run_id in run_ids}
    if not details:
        return details
    ids = list(details)
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    with driver_cursor(connection) as cursor:
        for run_id, key, value in _rows(cursor, postgres, "summary", ids):
            details[run_id].summary[key] = value
        for run_id, tag in _rows(cursor, postgres, "tags", ids):
            details[run_id].tags.append(tag)
        if with_teachers:
            for run_id, teacher_id in _rows(cursor, postgres, "teachers", ids):
                details[run_id].teachers.append(teacher_id)
        unknown = [run_id for run_id in ids if run_id not in known]
        for run_id, key, text, kind in _rows(cursor, postgres, "params", unknown) if unknown else []:
            details[run_id].params[key] = decode(text, kind)
    for run_id in unknown:  # in code-point order of the keys, as `Run.params_json` (not the collation's)
        details[run_id].params = dict(sorted(details[run_id].params.items()))
    return details

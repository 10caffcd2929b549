"""Metrics: (run, key, step, value) points, unique per (run, key, step), plus each key's latest value."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, func, or_, select, text
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models import FINAL_STATUSES, LatestMetric, Metric
from backend.store.driver import driver_cursor, placeholder
from backend.store.lifecycle import refuse_unless_open, require_open_run
from backend.store.runs import require_run
from backend.unit_of_work import core_unit_of_work


@dataclass(frozen=True)
class MetricPoint:
    key: str
    step: int
    value: float
    wall_time: float | None = None


class PointLike(Protocol):
    """A point as a request body's item holds one (`backend.schemas.metrics.MetricIn`) or a `MetricPoint`."""

    @property
    def key(self) -> str: ...
    @property
    def step(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def wall_time(self) -> float | None: ...


# Plain SQL that SQLite (3.24+) and PostgreSQL both accept, run with the driver's own executemany on the caller's
# connection (so in its transaction): SQLAlchemy's per-row parameter processing was half the time of a 1,000-point
# batch, and an ORM or Core insert construct built per request is recompiled per request. (PostgreSQL's hot path,
# `write_points`, sends both upserts in one statement instead.)
_UPSERT_POINTS = (
    "INSERT INTO metric (run_id, key, step, value, wall_time) VALUES ({p}, {p}, {p}, {p}, {p}) "
    "ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value, wall_time = excluded.wall_time"
)
# The latest value per key only moves forward: an older step arriving late leaves it alone.
_UPSERT_LATEST = (
    "INSERT INTO latest_metric (run_id, key, step, value, wall_time) VALUES ({p}, {p}, {p}, {p}, {p}) "
    "ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value, "
    "wall_time = excluded.wall_time WHERE latest_metric.step <= excluded.step"
)
Row = tuple[int, str, int, float, float]

_STATE = text("SELECT status, claim_token_id FROM run WHERE id = :run_id")

# PostgreSQL (`write_points` and `backend.store.loop_writer`): the run's row locked, then both upserts from JSON arrays (`_columns_json`), only for an open run
# the writer may write to; data-modifying WITH parts always run to completion, whatever the final SELECT reads.
# The conditions repeat `refuse_unless_open` and the rule's check, which turn a miss into the right refusal.
PG_WRITE = """
WITH target AS (
    SELECT status, claim_token_id FROM run WHERE id = %(run_id)s FOR UPDATE
), allowed AS (
    SELECT 1 FROM target
    WHERE status <> ALL(%(final)s::text[])
      AND (%(any_holder)s OR claim_token_id IS NOT DISTINCT FROM %(holder)s::bigint)
), points AS (
    INSERT INTO metric (run_id, key, step, value, wall_time)
    SELECT %(run_id)s, u.k, u.s, u.v, u.w
    FROM json_to_record(%(points)s::json) AS p(k text[], s bigint[], v float8[], w float8[]),
        unnest(p.k, p.s, p.v, p.w) AS u(k, s, v, w)
    WHERE EXISTS (SELECT 1 FROM allowed)
    ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value, wall_time = excluded.wall_time
), tops AS (
    INSERT INTO latest_metric (run_id, key, step, value, wall_time)
    SELECT %(run_id)s, u.k, u.s, u.v, u.w
    FROM json_to_record(%(tops)s::json) AS p(k text[], s bigint[], v float8[], w float8[]),
        unnest(p.k, p.s, p.v, p.w) AS u(k, s, v, w)
    WHERE EXISTS (SELECT 1 FROM allowed)
    ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value,
        wall_time = excluded.wall_time
    WHERE latest_metric.step <= excluded.step
)
SELECT status, claim_token_id FROM target
"""
_FINAL = sorted(FINAL_STATUSES)


@dataclass(frozen=True)
class HolderRule:
    """Which runs a writer may write to, by the worker token holding the run: any (admin), or only a run held by
    exactly `holder` (a worker token: its own id; a user: None, a run no worker holds)."""

    any_holder: bool = True
    holder: int | None = None


ANY_HOLDER = HolderRule()


def rows_of(run_id: int, points: Iterable[PointLike]) -> tuple[list[Row], list[Row]]:
    """The batch's rows, one per (key, step), the last write winning as it would across batches; and each key's
    row with the highest step, for the latest-value table."""
    now = time.time()
    rows: dict[tuple[str, int], Row] = {
        (p.key, p.step): (run_id, p.key, int(p.step), float(p.value), float(p.wall_time or now))
        for p in points
    }
    latest: dict[str, Row] = {}
    for row in rows.values():
        if row[1] not in latest or row[2] >= latest[row[1]][2]:
            latest[row[1]] = row
    return list(rows.values()), list(latest.values())


def _upsert(connection: Connection, rows: list[Row], latest: list[Row]) -> None:
    with driver_cursor(connection) as cursor:
        upsert_rows(cursor, placeholder(connection), rows, latest)


def upsert_rows(cursor: Any, p: str, rows: list[Row], latest: list[Row]) -> None:
    """Both upserts through a driver cursor (or an `sqlite3` connection) whose paramstyle's placeholder is `p`."""
    cursor.executemany(_UPSERT_POINTS.format(p=p), rows)
    cursor.executemany(_UPSERT_LATEST.format(p=p), latest)


def log_metrics(session: Session, run_id: int, points: Iterable[PointLike]) -> int:
    """Upsert a batch in the session's transaction; the same (key, step) written twice is stored once.
    Returns the number of points. A finished run is final (409)."""
    require_open_run(session, run_id)
    rows, latest = rows_of(run_id, points)
    if rows:
        _upsert(session.connection(), rows, latest)
    return len(rows)


def write_points(
    engine: Engine,
    run_id: int,
    points: Iterable[PointLike],
    rule: HolderRule,
    refuse: Callable[[], None],
) -> int:
    """`log_metrics` in a unit of work of its own, the hot path of tracking. `rule` says whose writes land;
    `refuse()` raises the refusal for a caller the rule keeps out (a missing run has no holder), checked before the
    run's existence and status, as the API always has.

    On PostgreSQL the check and both upserts are one statement in autocommit (one round trip, the run's row
    locked as `require_open_run` locks it); elsewhere they run on the pooled connection, without the ORM."""
    rows, latest = rows_of(run_id, points)
    postgres = engine.dialect.name == "postgresql"
    with core_unit_of_work(engine, autocommit=postgres) as connection:
        if postgres:
            with driver_cursor(connection) as cursor:
                cursor.execute(PG_WRITE, pg_write_params(run_id, rows, latest, rule))
                found = cursor.fetchone()
        else:
            found = connection.execute(_STATE, {"run_id": run_id}).first()
        admit(run_id, found, rule, refuse)
        if rows and not postgres:
            _upsert(connection, rows, latest)
    return len(rows)


def admit(run_id: int, state: Any, rule: HolderRule, refuse: Callable[[], None]) -> None:
    """Raise the refusal for the run's `state`, its (status, holder) row or None when there is no such run: the
    writer's first (`refuse()`), then a missing or finished run's."""
    status, held_by = (state[0], state[1]) if state is not None else (None, None)
    if not (rule.any_holder or held_by == rule.holder):
        refuse()
    refuse_unless_open(run_id, status)


def pg_write_params(run_id: int, rows: list[Row], latest: list[Row], rule: HolderRule) -> dict[str, Any]:
    """`PG_WRITE`'s parameters."""
    return {
        "run_id": run_id,
        "final": _FINAL,
        "any_holder": rule.any_holder,
        "holder": rule.holder,
        "points": _columns_json(rows),
        "tops": _columns_json(latest),
    }


def _columns_json(batch: list[Row]) -> str:
    """The rows' key, step, value and wall-time columns as one JSON object of four arrays. The driver adapts a
    Python list element by element in Python (12 ms for a 1,000-point batch's four arrays here); `json.dumps` and
    PostgreSQL's `json_to_record` take 5. Floats survive exactly: both sides print and parse the shortest
    round-trip form, and non-finite values were refused before this (`MetricIn`, `backend.limits`)."""
    columns: dict[str, list[Any]] = {"k": [], "s": [], "v": [], "w": []}
    for _, key, step, value, wall_time in batch:
        columns["k"].append(key)
        columns["s"].append(step)
        columns["v"].append(value)
        columns["w"].append(wall_time)
    return json.dumps(columns, allow_nan=False, separators=(",", ":"))


def metric_keys(session: Session, run_id: int) -> list[str]:
    require_run(session, run_id)
    return list(
        session.scalars(
            select(LatestMetric.key).where(LatestMetric.run_id == run_id).order_by(LatestMetric.key)
        )
    )


def metric_history(
    session: Session, run_id: int, key: str, max_points: int | None, wall_time: bool = False
) -> list[tuple[Any, ...]]:
    """Points (step, value[, wall_time]) ordered by step. With max_points, every k-th point plus the last one,
    chosen in SQL so a million-point history is never loaded to draw a thousand-point curve."""
    require_run(session, run_id)
    where = (Metric.run_id == run_id, Metric.key == key)
    extra = [Metric.wall_time] if wall_time else []
    query = select(Metric.step, Metric.value, *extra).where(*where).order_by(Metric.step)
    points: list[tuple[Any, ...]] | None = None
    if max_points is None:
        points = _full_history(session, run_id, key, wall_time)
    else:
        total = session.scalar(select(func.count()).select_from(Metric).where(*where)) or 0
        if total > max_points:
            if max_points == 1:
                query = query.order_by(None).order_by(Metric.step.desc()).limit(1)
            else:
                stride = -(-(total - 1) // (max_points - 1))  # ceil: at most max_points points
                numbered = (
                    select(
                        Metric.step,
                        Metric.value,
                        *extra,
                        (func.row_number().over(order_by=Metric.step) - 1).label("rn"),
                    )
                    .where(*where)
                    .subquery()
                )
                query = (
                    select(numbered.c.step, numbered.c.value, *([numbered.c.wall_time] if wall_time else []))
                    .where(or_(numbered.c.rn % stride == 0, numbered.c.rn == total - 1))
                    .order_by(numbered.c.step)
                )
    if points is None:
        points = [(int(row[0]), float(row[1]), *row[2:]) for row in session.execute(query)]
    if not points and key not in metric_keys(session, run_id):
        raise NotFound(f"run {run_id} has no metric '{key}'")
    return points


def _full_history(session: Session, run_id: int, key: str, wall_time: bool) -> list[tuple[Any, ...]]:
    """Every point, read with the driver's own cursor: for a 10,000-point history the rows' wrapping in
    SQLAlchemy result objects is most of the time (the (run_id, key, step) primary key gives the order)."""
    connection = session.connection()
    p = placeholder(connection)
    columns = "step, value, wall_time" if wall_time else "step, value"
    with driver_cursor(connection) as cursor:
        cursor.execute(
            f"SELECT {columns} FROM metric WHERE run_id = {p} AND key = {p} ORDER BY step", (run_id, key)
        )
        return cursor.fetchall()

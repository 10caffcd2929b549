"""Metrics: (run, key, step, value) points, unique per (run, key, step), plus each key's latest value."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models import LatestMetric, Metric
from backend.store.lifecycle import require_open_run
from backend.store.runs import require_run


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


# Plain SQL that SQLite (3.24+) and PostgreSQL both accept, run with the driver's own executemany on the session's
# connection (so in the request's transaction): SQLAlchemy's per-row parameter processing was half the time of a
# 1,000-point batch, and an ORM or Core insert construct built per request is recompiled per request.
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


def log_metrics(session: Session, run_id: int, points: Iterable[PointLike]) -> int:
    """Upsert a batch in the request's one transaction; the same (key, step) written twice is stored once.
    Returns the number of points. A finished run is final (409)."""
    require_open_run(session, run_id)
    now = time.time()
    # Within one batch the last write of a (key, step) wins, as it would across batches.
    rows: dict[tuple[str, int], Row] = {
        (p.key, p.step): (run_id, p.key, p.step, p.value, p.wall_time or now) for p in points
    }
    if not rows:
        return 0
    latest: dict[str, Row] = {}
    for row in rows.values():
        if row[1] not in latest or row[2] >= latest[row[1]][2]:
            latest[row[1]] = row
    connection = session.connection()
    p = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(_UPSERT_POINTS.format(p=p), list(rows.values()))
        cursor.executemany(_UPSERT_LATEST.format(p=p), list(latest.values()))
    finally:
        cursor.close()
    return len(rows)


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
    placeholder = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    columns = "step, value, wall_time" if wall_time else "step, value"
    sql = f"SELECT {columns} FROM metric WHERE run_id = {placeholder} AND key = {placeholder} ORDER BY step"
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, (run_id, key))
        return cursor.fetchall()
    finally:
        cursor.close()

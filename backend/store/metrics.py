"""Metrics: (run, key, step, value) points, unique per (run, key, step), plus each key's latest value."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def log_metrics(session: Session, run_id: int, points: Iterable[MetricPoint]) -> int:
    """Upsert a batch; the same (key, step) written twice is stored once. Returns the number of points.
    A finished run is final (409)."""
    require_open_run(session, run_id)
    now = time.time()
    # Within one batch the last write of a (key, step) wins, as it would across batches.
    rows = {
        (p.key, p.step): {
            "run_id": run_id,
            "key": p.key,
            "step": p.step,
            "value": p.value,
            "wall_time": p.wall_time or now,
        }
        for p in points
    }
    if not rows:
        return 0
    insert = _insert(session)
    values = list(rows.values())
    stmt = insert(Metric)
    # executemany form: the driver batches the rows (insertmanyvalues) without compiling a statement per size.
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key", "step"],
            set_={"value": stmt.excluded.value, "wall_time": stmt.excluded.wall_time},
        ),
        values,
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in values:
        if row["key"] not in latest or row["step"] >= latest[row["key"]]["step"]:
            latest[row["key"]] = row
    stmt = insert(LatestMetric).values(list(latest.values()))
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "step": stmt.excluded.step,
                "value": stmt.excluded.value,
                "wall_time": stmt.excluded.wall_time,
            },
            where=LatestMetric.step <= stmt.excluded.step,
        )
    )
    return len(values)


def metric_keys(session: Session, run_id: int) -> list[str]:
    require_run(session, run_id)
    return list(
        session.scalars(
            select(LatestMetric.key).where(LatestMetric.run_id == run_id).order_by(LatestMetric.key)
        )
    )


def metric_history(
    session: Session, run_id: int, key: str, max_points: int | None
) -> list[tuple[int, float]]:
    """Points ordered by step. With max_points, every k-th point plus the last one, chosen in SQL so a
    million-point history is never loaded to draw a thousand-point curve."""
    require_run(session, run_id)
    where = (Metric.run_id == run_id, Metric.key == key)
    query = select(Metric.step, Metric.value).where(*where).order_by(Metric.step)
    if max_points is not None:
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
                        (func.row_number().over(order_by=Metric.step) - 1).label("rn"),
                    )
                    .where(*where)
                    .subquery()
                )
                query = (
                    select(numbered.c.step, numbered.c.value)
                    .where(or_(numbered.c.rn % stride == 0, numbered.c.rn == total - 1))
                    .order_by(numbered.c.step)
                )
    points = [(int(step), float(value)) for step, value in session.execute(query)]
    if not points and key not in metric_keys(session, run_id):
        raise NotFound(f"run {run_id} has no metric '{key}'")
    return points

"""What a runs page shows beside each run's own columns (latest metrics, tags, teachers, params), read for a
whole page in four index reads of plain rows: building an ORM object per metric and param of every run cost
more than the query that chose the runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import LatestMetric, RunParam, RunTag, RunTeacher
from backend.store.id_sets import among
from backend.store.run_params import ParamValue, decode


@dataclass
class RunDetails:
    summary: dict[str, float] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    teachers: list[int] = field(default_factory=list)
    params: dict[str, ParamValue] = field(default_factory=dict)


def run_details(session: Session, run_ids: Sequence[int]) -> dict[int, RunDetails]:
    details = {run_id: RunDetails() for run_id in run_ids}
    if not details:
        return details
    ids = list(details)
    dialect = session.get_bind().dialect.name
    latest = select(LatestMetric.run_id, LatestMetric.key, LatestMetric.value).where(
        among(LatestMetric.run_id, ids, dialect)
    )
    for run_id, key, value in session.execute(latest.order_by(LatestMetric.run_id, LatestMetric.key)):
        details[run_id].summary[key] = value
    tags = select(RunTag.run_id, RunTag.tag).where(among(RunTag.run_id, ids, dialect))
    for run_id, tag in session.execute(tags.order_by(RunTag.run_id, RunTag.tag)):
        details[run_id].tags.append(tag)
    teachers = select(RunTeacher.student_id, RunTeacher.teacher_id).where(
        among(RunTeacher.student_id, ids, dialect)
    )
    for run_id, teacher_id in session.execute(teachers.order_by(RunTeacher.student_id, RunTeacher.position)):
        details[run_id].teachers.append(teacher_id)
    params = select(RunParam.run_id, RunParam.key, RunParam.value, RunParam.type).where(
        among(RunParam.run_id, ids, dialect)
    )
    for run_id, key, text, kind in session.execute(params.order_by(RunParam.run_id, RunParam.key)):
        details[run_id].params[key] = decode(text, kind)
    return details

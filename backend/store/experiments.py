"""Experiments: named groups of runs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.errors import Conflict, NotFound
from backend.models import Experiment, Run


def create_experiment(session: Session, name: str, description: str) -> Experiment:
    experiment = Experiment(name=name, description=description)
    session.add(experiment)
    try:
        session.flush()
    except IntegrityError:  # the unit of work rolls the transaction back
        raise Conflict(f"an experiment named '{name}' already exists; pick another name or use its id")
    return experiment


def get_experiment(session: Session, experiment_id: int) -> Experiment:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise NotFound(f"experiment {experiment_id} not found")
    return experiment


def find_experiment(session: Session, name: str) -> Experiment | None:
    return session.scalars(select(Experiment).where(Experiment.name == name)).first()


def list_experiments(session: Session) -> list[tuple[Experiment, int]]:
    """Every experiment, newest first, with its number of runs."""
    counts = select(Run.experiment_id, func.count().label("n")).group_by(Run.experiment_id).subquery()
    rows = session.execute(
        select(Experiment, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.experiment_id == Experiment.id)
        .order_by(Experiment.id.desc())
    )
    return [(e, n) for e, n in rows]

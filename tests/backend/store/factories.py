"""Runs made through the store for store tests: an experiment per run, students of given teachers."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.store import experiments, lifecycle, runs
from tests.support import digits_spec
from xclab.spec import RunSpec


def make_run(session: Session, **spec_overrides: object) -> int:
    exp = experiments.create_experiment(session, f"exp-{len(experiments.list_experiments(session))}", "")
    run = runs.create_run(session, exp.id, RunSpec.model_validate(digits_spec(**spec_overrides)), "cpu")
    session.commit()
    return run.id


def make_student(session: Session, teachers: list[int], **spec: object) -> int:
    exp = experiments.list_experiments(session)[0][0]
    method = spec.pop("method", {"name": "kd"})
    run = runs.create_run(
        session, exp.id, RunSpec.model_validate(digits_spec(method=method, teachers=teachers, **spec)), "cpu"
    )
    session.commit()
    return run.id


def claim_and_finish(session: Session, run_id: int, status: str) -> list[int]:
    """Run ids the finish released."""
    lifecycle.claim_run(session, run_id, "w", None)
    _, released = lifecycle.finish_run(session, run_id, status, "boom" if status == "failed" else None)
    session.commit()
    return [r.id for r in released]

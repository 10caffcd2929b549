from __future__ import annotations

from fastapi import APIRouter, status

from backend.deps import ReadAuth, ReadSessionDep, SessionDep, WriteAuth
from backend.schemas.experiments import ExperimentCreate, ExperimentOut, ExperimentsPage
from backend.store import experiments as experiment_store

router = APIRouter(prefix="/experiments", tags=["experiments"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[WriteAuth])
def create_experiment(body: ExperimentCreate, session: SessionDep) -> ExperimentOut:
    """Create an experiment: a named group of runs."""
    return ExperimentOut.model_validate(
        experiment_store.create_experiment(session, body.name, body.description)
    )


@router.get("", dependencies=[ReadAuth])
def read_experiments(session: ReadSessionDep) -> ExperimentsPage:
    """All experiments, newest first, with their run counts."""
    return ExperimentsPage(
        data=[
            ExperimentOut.model_validate(e).model_copy(update={"run_count": n})
            for e, n in experiment_store.list_experiments(session)
        ]
    )


@router.get("/{experiment_id}", dependencies=[ReadAuth])
def read_experiment(experiment_id: int, session: ReadSessionDep) -> ExperimentOut:
    """One experiment."""
    return ExperimentOut.model_validate(experiment_store.get_experiment(session, experiment_id))

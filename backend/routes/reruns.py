"""Reproducibility: a finished run repeated as a new run, the exact comparison of two runs, and the environment a
worker reports for the run it holds (package versions, threads, deterministic flags, data hashes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response, status

from backend.deps import CeleryDep, HolderAuth, ReadAuth, ReadSessionDep, SessionDep, UnitOfWorkDep, WriteAuth
from backend.queueing import enqueue
from backend.routes.run_out import BROKER_DOWN, run_out
from backend.schemas.runs import ReproductionOut, RunOut
from backend.store import reruns

router = APIRouter(prefix="/runs", tags=["runs"])


@router.post(
    "/{run_id}/rerun", status_code=status.HTTP_202_ACCEPTED, dependencies=[WriteAuth], responses=BROKER_DOWN
)
def rerun_run(
    run_id: int, uow: UnitOfWorkDep, celery: CeleryDep, request: Request, response: Response
) -> RunOut:
    """Repeat a finished run as a new run (same spec and stored hyperparameters, `rerun_of` set); compare the
    two with GET /runs/{run_id}/compare/{new id}."""
    run = reruns.rerun(uow.session, run_id)
    if run.status == "queued":
        enqueue(uow, celery, run)
    response.headers["Location"] = str(request.url_for("read_run", run_id=run.id))
    return run_out(run, request)


@router.get("/{run_id}/compare/{other_id}", dependencies=[ReadAuth])
def compare_reproduction(run_id: int, other_id: int, session: ReadSessionDep) -> ReproductionOut:
    """Did `other_id` reproduce `run_id`? Exact equality of every metric at every step (timings aside), else
    the first step and key where they part, and the environment fields that differ."""
    return ReproductionOut.model_validate(reruns.compare(session, run_id, other_id))


@router.put("/{run_id}/environment", dependencies=[HolderAuth])
def put_environment(
    run_id: int,
    session: SessionDep,
    request: Request,
    environment: Annotated[dict[str, Any], Body(description="A JSON object of at most 64 KiB.")],
) -> RunOut:
    """The running worker reports what the run runs on (409 once the run is not running)."""
    return run_out(reruns.set_environment(session, run_id, environment), request)

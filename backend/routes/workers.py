"""The worker fleet: each worker reports its inventory here; dashboards and operators read it."""

from __future__ import annotations

from fastapi import APIRouter, Path

from backend.deps import ReadAuth, ReadSessionDep, SessionDep, SettingsDep, WorkerAuth
from backend.schemas.workers import WorkerOut, WorkerReport, WorkersPage
from backend.store import workers as worker_store

router = APIRouter(prefix="/workers", tags=["workers"])

WorkerName = Path(min_length=1, max_length=200, pattern=r"^[\w.@:+-]+$", description="The Celery node name.")


@router.put("/{name}", dependencies=[WorkerAuth])
def report_worker(
    name: str = WorkerName, *, body: WorkerReport, session: SessionDep, settings: SettingsDep
) -> WorkerOut:
    """A worker's inventory heartbeat: host, queues, GPUs, slots, the runs it holds, software versions."""
    worker = worker_store.report(session, name, body)
    stale = worker_store.is_stale(worker, settings.worker_stale_seconds)
    return WorkerOut.model_validate(worker).model_copy(update={"stale": stale})


@router.get("", dependencies=[ReadAuth])
def read_workers(session: ReadSessionDep, settings: SettingsDep) -> WorkersPage:
    """Every worker that ever reported, stale ones marked (no heartbeat within `XCL_WORKER_STALE_SECONDS`)."""
    after = settings.worker_stale_seconds
    return WorkersPage(
        data=[
            WorkerOut.model_validate(w, from_attributes=True).model_copy(
                update={"stale": worker_store.is_stale(w, after)}
            )
            for w in worker_store.list_workers(session)
        ],
        stale_after_s=after,
    )

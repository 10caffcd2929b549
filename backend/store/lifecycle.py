"""A run's life: claimed by a worker, heartbeats, finished, cancelled, retried; dependents follow their
teachers and generator; runs whose worker went silent are failed.

`waiting -> queued -> running -> succeeded | failed | cancelled`; functions that release waiting dependents return
them, for the caller to enqueue once the unit of work has committed.
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from backend.errors import Conflict
from backend.models import FINAL_STATUSES, Run, RunTeacher, utcnow
from backend.store.runs import dependency_ids, get_run

# Ended without a result: such a run can be retried, and a run depending on one cannot start.
RETRYABLE = frozenset({"failed", "cancelled"})


def claim_run(session: Session, run_id: int, worker_host: str, attempt: int | None) -> Run:
    """A worker takes a queued run. Refused when the run was cancelled, or already taken by another attempt."""
    run = get_run(session, run_id, lock=True)
    if attempt is not None and attempt != run.attempt:
        raise Conflict(f"run {run_id} is at attempt {run.attempt}; this delivery was for attempt {attempt}")
    if run.status != "queued":
        raise Conflict(f"run {run_id} is {run.status}, not queued; nothing to do")
    run.status = "running"
    run.worker_host = worker_host
    run.started_at = run.heartbeat_at = utcnow()
    run.finished_at = None
    return run


def heartbeat(session: Session, run_id: int) -> Run:
    run = get_run(session, run_id)
    if run.status != "running":
        raise Conflict(f"run {run_id} is {run.status}, not running")
    run.heartbeat_at = utcnow()
    return run


def finish_run(session: Session, run_id: int, status: str, error: str | None) -> tuple[Run, list[Run]]:
    """Record a worker's final status; returns the run and the dependents it released (to enqueue)."""
    run = get_run(session, run_id, lock=True)
    if run.status != "running":
        raise Conflict(f"run {run_id} is {run.status}; only a running run can finish")
    if status == "succeeded" and run.cancel_requested:
        status = "cancelled"
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    return run, settle_dependents(session, run)


def request_cancel(session: Session, run_id: int) -> tuple[Run, list[Run]]:
    """Flag a run for cancellation; a queued or waiting one ends at once. Returns it and the runs released."""
    run = get_run(session, run_id, lock=True)
    if run.status in FINAL_STATUSES:
        raise Conflict(f"run {run_id} is already {run.status}")
    run.cancel_requested = True
    # A tracking run has no worker to stop: it ends now (its script's later writes are still stored).
    if run.status in {"queued", "waiting"} or run.kind == "tracking":
        run.status = "cancelled"
        run.finished_at = utcnow()
        return run, settle_dependents(session, run)
    return run, []


def _dependents(session: Session, run_id: int) -> list[Run]:
    students = select(RunTeacher.student_id).where(RunTeacher.teacher_id == run_id)
    return list(
        session.scalars(
            select(Run)
            .where(Run.status == "waiting", or_(Run.id.in_(students), Run.generator_run_id == run_id))
            .options(selectinload(Run.teacher_links))
            .with_for_update()
        )
    )


def settle_dependents(session: Session, run: Run) -> list[Run]:
    """After `run` reached a final status: release waiting dependents whose dependencies all succeeded, or fail
    them (and, transitively, their own dependents) with a reason that names the run. Returns runs to enqueue."""
    session.flush()
    released: list[Run] = []
    for dependent in _dependents(session, run.id):
        if run.status == "succeeded":
            statuses = dict(
                session.execute(select(Run.id, Run.status).where(Run.id.in_(dependency_ids(dependent)))).all()
            )
            if all(s == "succeeded" for s in statuses.values()):
                dependent.status = "queued"
                released.append(dependent)
        else:
            role = "generator" if dependent.generator_run_id == run.id else "teacher"
            dependent.status = "failed"
            dependent.error = f"{role} run {run.id} {run.status}" + (f": {run.error}" if run.error else "")
            dependent.finished_at = utcnow()
            released += settle_dependents(session, dependent)
    return released


def retry_run(session: Session, run_id: int) -> Run:
    """Run a failed or cancelled run again as the next attempt; it waits if its dependencies are unfinished."""
    run = get_run(session, run_id, lock=True)
    if run.kind == "tracking":
        raise Conflict(f"run {run_id} is a tracking run, which no worker executes; start a new run instead")
    if run.status not in RETRYABLE:
        raise Conflict(f"run {run_id} is {run.status}; only failed or cancelled runs can be retried")
    deps = dict(session.execute(select(Run.id, Run.status).where(Run.id.in_(dependency_ids(run)))).all())
    broken = sorted(i for i, s in deps.items() if s in RETRYABLE)
    if broken:
        raise Conflict(
            f"run {run_id} depends on run(s) {broken}, which are failed or cancelled; retry those first"
        )
    run.attempt += 1
    run.status = "queued" if all(s == "succeeded" for s in deps.values()) else "waiting"
    run.error = None
    run.cancel_requested = False
    run.worker_host = None
    run.started_at = run.finished_at = run.heartbeat_at = None
    return run


def fail_stale_runs(session: Session, older_than_seconds: float) -> list[int]:
    """Fail running runs whose worker stopped heartbeating (the embedded broker never redelivers)."""
    cutoff = datetime.fromtimestamp(time.time() - older_than_seconds).astimezone()
    stale = list(session.scalars(select(Run).where(Run.status == "running", Run.heartbeat_at < cutoff)))
    for run in stale:
        run.status = "failed"
        run.error = f"worker {run.worker_host} stopped heartbeating for over {older_than_seconds:.0f} s"
        run.finished_at = utcnow()
        settle_dependents(session, run)
    return [r.id for r in stale]

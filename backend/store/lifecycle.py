"""A run's life: claimed by a worker, heartbeats, finished, cancelled, retried; dependents follow their
teachers and generator; runs whose worker went silent are failed.

`waiting -> queued -> running -> succeeded | failed | cancelled`; functions that release waiting dependents return
them, for the caller to enqueue once the unit of work has committed.
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict, NotFound
from backend.models import FINAL_STATUSES, Run, RunTeacher, utcnow
from backend.store.runs import dependency_ids, get_run

# Ended without a result: such a run can be retried, and a run depending on one cannot start.
RETRYABLE = frozenset({"failed", "cancelled"})


_OPEN_RUN = select(Run.status, Run.attempt).where(Run.id == bindparam("run_id")).with_for_update()


def refuse_unless_open(run_id: int, status: str | None) -> None:
    """404 for a run that is not there (`status` None), 409 for one that has ended."""
    if status is None:
        raise NotFound(f"run {run_id} not found")
    if status in FINAL_STATUSES:
        raise Conflict(f"run {run_id} is {status}: a finished run is final; retry it to record a new attempt")


def require_open_run(session: Session, run_id: int, attempt: int | None = None) -> None:
    """Refuse writes (metrics, artifacts) to a run that has ended: its record is final. Locks the run's row so a
    concurrent finish cannot slip between this check and the write. With `attempt`: also refused once the run
    has moved on to another attempt (the writer was presumed dead and the run re-queued)."""
    # Flushed, then read through the Core connection: the same rows and lock, without the ORM's per-statement
    # machinery, a large share of a one-point metric write.
    session.flush()
    row = session.connection().execute(_OPEN_RUN, {"run_id": run_id}).first()
    status, current = row if row is not None else (None, None)
    refuse_unless_open(run_id, status)
    if attempt is not None and attempt != current:
        raise Conflict(
            f"run {run_id} is at attempt {current}; this worker's attempt {attempt} was given up (re-queued)"
        )


def claim_run(
    session: Session, run_id: int, worker_host: str, attempt: int | None, token_id: int | None = None
) -> Run:
    """A worker takes a queued run. Refused when the run was cancelled, or already taken by another attempt.
    `token_id`: the worker token claiming it (None for the admin token), the only one to report on it after."""
    run = get_run(session, run_id, lock=True)
    if attempt is not None and attempt != run.attempt:
        raise Conflict(f"run {run_id} is at attempt {run.attempt}; this delivery was for attempt {attempt}")
    if run.status != "queued":
        raise Conflict(f"run {run_id} is {run.status}, not queued; nothing to do")
    run.status = "running"
    run.worker_host = worker_host
    run.claim_token_id = token_id
    run.started_at = run.heartbeat_at = utcnow()
    run.finished_at = None
    return run


def _same_attempt(run: Run, attempt: int | None) -> None:
    if attempt is not None and attempt != run.attempt:
        raise Conflict(
            f"run {run.id} is at attempt {run.attempt}; this worker's attempt {attempt} was given up (re-queued)"
        )


def heartbeat(session: Session, run_id: int, attempt: int | None = None) -> Run:
    run = get_run(session, run_id)
    _same_attempt(run, attempt)
    if run.status != "running":
        raise Conflict(f"run {run_id} is {run.status}, not running")
    run.heartbeat_at = utcnow()
    return run


def finish_run(
    session: Session, run_id: int, status: str, error: str | None, attempt: int | None = None
) -> tuple[Run, list[Run]]:
    """Record a worker's final status; returns the run and the dependents it released (to enqueue)."""
    run = get_run(session, run_id, lock=True)
    _same_attempt(run, attempt)
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


CHUNK = 500  # ids per IN (...) list


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _waiting_dependents(session: Session, parent_ids: list[int]) -> dict[int, tuple[list[int], int | None]]:
    """Waiting runs with a teacher or generator among `parent_ids` (rows locked) -> (their teachers in spec
    order, their generator). Columns only: no spec or hparams JSON is loaded."""
    generator: dict[int, int | None] = {}
    for chunk in _chunks(parent_ids):
        students = select(RunTeacher.student_id).where(RunTeacher.teacher_id.in_(chunk))
        rows = session.execute(
            select(Run.id, Run.generator_run_id)
            .where(Run.status == "waiting", or_(Run.id.in_(students), Run.generator_run_id.in_(chunk)))
            .with_for_update()
        )
        generator.update(dict(rows.all()))
    teachers: dict[int, list[int]] = {run_id: [] for run_id in generator}
    for chunk in _chunks(sorted(generator)):
        links = session.execute(
            select(RunTeacher.student_id, RunTeacher.teacher_id)
            .where(RunTeacher.student_id.in_(chunk))
            .order_by(RunTeacher.student_id, RunTeacher.position)
        )
        for student, teacher in links:
            teachers[student].append(teacher)
    return {r: (teachers[r], g) for r, g in sorted(generator.items())}


def _statuses(session: Session, run_ids: set[int]) -> dict[int, str]:
    statuses: dict[int, str] = {}
    for chunk in _chunks(sorted(run_ids)):
        statuses.update(dict(session.execute(select(Run.id, Run.status).where(Run.id.in_(chunk))).all()))
    return statuses


def settle_dependents(session: Session, run: Run) -> list[Run]:
    """After `run` reached a final status: release waiting dependents whose dependencies all succeeded, or fail
    them (and, transitively, their own dependents) with a reason that names the run. Returns runs to enqueue.

    Level by level with set-based queries and bulk updates, never statements per dependent: failing the 2,000
    students of a cancelled teacher is a handful of statements, so the write lock it holds delays nobody."""
    session.flush()
    released: list[int] = []
    # id -> (status, error) of the runs whose dependents are settled next
    frontier: dict[int, tuple[str, str | None]] = {run.id: (run.status, run.error)}
    while frontier:
        dependents = _waiting_dependents(session, list(frontier))
        if not dependents:
            break
        depends = {r: t + ([g] if g else []) for r, (t, g) in dependents.items()}
        statuses = _statuses(session, {d for deps in depends.values() for d in deps})
        failures: dict[str, list[int]] = {}  # error message -> runs failed with it
        for dependent, deps in depends.items():
            ended = [d for d in deps if d in frontier and frontier[d][0] != "succeeded"]
            if not ended:
                if all(statuses.get(d) == "succeeded" for d in deps):
                    released.append(dependent)
                continue
            cause = ended[0]
            status, error = frontier[cause]
            role = "generator" if dependents[dependent][1] == cause else "teacher"
            failures.setdefault(f"{role} run {cause} {status}" + (f": {error}" if error else ""), []).append(
                dependent
            )
        now = utcnow()
        frontier = {}
        for message, ids in failures.items():
            for chunk in _chunks(ids):
                session.execute(
                    update(Run)
                    .where(Run.id.in_(chunk))
                    .values(status="failed", error=message, finished_at=now)
                )
            frontier.update(dict.fromkeys(ids, ("failed", message)))
    runs: list[Run] = []
    for chunk in _chunks(released):
        session.execute(update(Run).where(Run.id.in_(chunk)).values(status="queued"))
        runs += session.scalars(select(Run).where(Run.id.in_(chunk)).order_by(Run.id))
    return runs


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
    run.claim_token_id = None
    run.started_at = run.finished_at = run.heartbeat_at = None
    return run


def fail_stale_runs(
    session: Session, older_than_seconds: float, max_attempts: int = 1
) -> tuple[list[int], list[Run]]:
    """Running runs whose worker stopped heartbeating: re-queued as their next attempt while fewer than
    `max_attempts` were made (returned, for the caller to publish once committed), failed after that.
    Returns (failed run ids, re-queued runs). A re-run writes the same metric steps again, so its history
    holds each step once."""
    cutoff = datetime.fromtimestamp(time.time() - older_than_seconds).astimezone()
    stale = list(
        session.scalars(
            select(Run).where(Run.status == "running", Run.heartbeat_at < cutoff).with_for_update()
        )
    )
    failed, requeued = [], []
    for run in stale:
        silent = f"worker {run.worker_host} stopped heartbeating for over {older_than_seconds:.0f} s"
        if run.attempt < max_attempts and not run.cancel_requested:
            run.attempt += 1
            run.status = "queued"
            run.worker_host = None
            run.claim_token_id = None
            run.started_at = run.heartbeat_at = None
            run.error = f"attempt {run.attempt - 1}: {silent}; re-queued"  # cleared by the next finish
            requeued.append(run)
            continue
        run.status = "cancelled" if run.cancel_requested else "failed"
        run.error = silent + (f" (after {run.attempt} attempts)" if run.attempt > 1 else "")
        run.finished_at = utcnow()
        settle_dependents(session, run)
        failed.append(run.id)
    return failed, requeued

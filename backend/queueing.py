"""Hand runs to Celery. Celery only carries (run id, attempt); the database row stays the truth.

A run is published only once the row that says it is queued is committed (the worker must see it): `enqueue` and
`enqueue_released` publish through the unit of work's `commit_then`.
"""

from __future__ import annotations

import logging

from celery import Celery

from backend.errors import BrokerUnavailable
from backend.models import Run, utcnow
from backend.unit_of_work import UnitOfWork
from xclab.transport import TASK_EXECUTE_RUN, broker_priority

log = logging.getLogger(__name__)


def publish(celery: Celery, run: Run) -> None:
    """Send a committed run to its queue; a failed publish fails the run visibly (the caller commits that)."""
    try:
        result = celery.send_task(
            TASK_EXECUTE_RUN,
            args=[run.id, run.attempt],
            queue=run.queue,
            priority=broker_priority(run.priority),
            retry=False,
        )
    except Exception as exc:
        run.status = "failed"
        run.error = f"could not reach the broker to enqueue this run ({type(exc).__name__}: {exc}); retry it once the broker is up"
        run.finished_at = utcnow()
        raise BrokerUnavailable(run.error) from exc
    run.celery_task_id = result.id


def publish_released(celery: Celery, runs: list[Run]) -> None:
    """Publish several runs; a broker failure fails each (retryable) rather than the request."""
    for run in runs:
        try:
            publish(celery, run)
        except BrokerUnavailable as exc:
            log.error("could not enqueue released run %s: %s", run.id, exc)


def enqueue(uow: UnitOfWork, celery: Celery, run: Run) -> None:
    """Commit, then publish `run`. When the broker is down the run is failed (and committed) and
    BrokerUnavailable is raised: the request answers 503."""
    uow.commit_then(lambda: publish(celery, run))


def enqueue_released(uow: UnitOfWork, celery: Celery, runs: list[Run]) -> None:
    """Commit, then publish runs that a finished dependency (or a grid) made ready; failures fail the runs only."""
    if runs:
        uow.commit_then(lambda: publish_released(celery, runs))


def revoke(celery: Celery, task_id: str | None) -> None:
    """Best effort: the worker also refuses to claim a cancelled run, so a lost revoke costs nothing."""
    if not task_id:
        return
    try:
        celery.control.revoke(task_id)
    except Exception as exc:
        log.warning("revoke of %s failed: %s", task_id, exc)

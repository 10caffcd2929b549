"""Hand runs to Celery. Celery only carries (run id, attempt); the database row stays the truth."""

from __future__ import annotations

import logging

from celery import Celery
from sqlalchemy.orm import Session

from backend.models import Run, utcnow
from xclab.transport import TASK_EXECUTE_RUN

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    pass


def enqueue(session: Session, celery: Celery, run: Run) -> None:
    """Commit the run first (the worker must see it), then publish. A failed publish fails the run visibly."""
    session.commit()
    try:
        result = celery.send_task(TASK_EXECUTE_RUN, args=[run.id, run.attempt], queue=run.queue, retry=False)
    except Exception as exc:
        run.status = "failed"
        run.error = f"could not reach the broker to enqueue this run ({type(exc).__name__}: {exc}); retry it once the broker is up"
        run.finished_at = utcnow()
        session.commit()
        raise BrokerUnavailable(run.error) from exc
    run.celery_task_id = result.id
    session.commit()


def revoke(celery: Celery, task_id: str | None) -> None:
    """Best effort: the worker also refuses to claim a cancelled run, so a lost revoke costs nothing."""
    if not task_id:
        return
    try:
        celery.control.revoke(task_id)
    except Exception as exc:
        log.warning("revoke of %s failed: %s", task_id, exc)


def enqueue_all(session: Session, celery: Celery, runs: list[Run]) -> None:
    """Enqueue released runs; a broker failure fails each visibly (retryable) rather than losing it."""
    for run in runs:
        try:
            enqueue(session, celery, run)
        except BrokerUnavailable as exc:
            log.error("could not enqueue released run %s: %s", run.id, exc)

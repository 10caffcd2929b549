"""Runs the broker lost, put back: a run `queued` in the database whose message is in no broker queue (a message
file deleted or dropped as unreadable, a Redis flush) is published again once it has stayed missing for a grace
period, so a worker that just took its message has time to claim it. A second copy is harmless: the claim of a
run that is no longer queued is refused and the worker skips it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Run
from xclab.settings import Settings
from xclab.transport import TASK_EXECUTE_RUN

log = logging.getLogger(__name__)
REDIS_PRIORITY_SEP, REDIS_PRIORITY_STEPS = "\x06\x16", (3, 6, 9)


def _task_id(message: object) -> str | None:
    if isinstance(message, dict) and isinstance(message.get("headers"), dict):
        task_id = message["headers"].get("id")
        return task_id if isinstance(task_id, str) else None
    return None


def _filesystem_ids(settings: Settings) -> set[str]:
    ids: set[str] = set()
    for path in (settings.broker_folder / "queue").glob("*.msg"):
        try:
            task_id = _task_id(json.loads(path.read_bytes()))
        except (OSError, ValueError):
            continue  # taken by a worker meanwhile, or unreadable (the worker drops those)
        if task_id:
            ids.add(task_id)
    return ids


def _redis_ids(celery: Celery, queues: Iterable[str]) -> set[str]:
    ids: set[str] = set()
    with celery.connection_for_read() as conn:
        client = conn.default_channel.client
        keys = [
            q
            for name in queues
            for q in (name, *(f"{name}{REDIS_PRIORITY_SEP}{p}" for p in REDIS_PRIORITY_STEPS))
        ]
        raw = [m for key in keys for m in client.lrange(key, 0, -1)]
        raw += [json.loads(v)[0] for v in client.hvals("unacked")]  # delivered, not yet acknowledged
    for item in raw:
        try:
            message = json.loads(item) if isinstance(item, str | bytes) else item
        except ValueError:
            continue
        task_id = _task_id(message)
        if task_id:
            ids.add(task_id)
    return ids


def broker_task_ids(celery: Celery, settings: Settings, queues: Iterable[str]) -> set[str] | None:
    """Task ids of the messages the broker holds, or None when this broker cannot be inspected."""
    url = settings.resolved_broker_url
    if url.startswith("filesystem"):
        return _filesystem_ids(settings)
    if url.startswith(("redis", "rediss")):
        return _redis_ids(celery, queues)
    return None


class LostRunSweeper:
    """Remembers since when each queued run has been missing from the broker; republishes past the grace."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.missing_since: dict[tuple[int, int], float] = {}

    def sweep(
        self, session: Session, celery: Celery, settings: Settings, now: float | None = None
    ) -> list[int]:
        now = time.monotonic() if now is None else now
        queued = list(session.scalars(select(Run).where(Run.status == "queued")))
        if not queued:
            self.missing_since.clear()
            return []
        present = broker_task_ids(celery, settings, {r.queue for r in queued})
        if present is None:
            return []
        missing = {(r.id, r.attempt): r for r in queued if r.celery_task_id not in present}
        self.missing_since = {k: self.missing_since.get(k, now) for k in missing}
        republished = []
        for key, run in missing.items():
            if now - self.missing_since[key] >= self.grace_seconds:
                log.warning(
                    "run %s is queued but its message is gone from the broker: publishing it again", run.id
                )
                try:
                    result = celery.send_task(
                        TASK_EXECUTE_RUN, args=[run.id, run.attempt], queue=run.queue, retry=False
                    )
                except (
                    Exception
                ) as exc:  # the broker is down: the run stays queued, the next pass tries again
                    log.error("could not republish run %s: %s", run.id, exc)
                    continue
                run.celery_task_id = result.id
                self.missing_since.pop(key)
                republished.append(run.id)
        return republished

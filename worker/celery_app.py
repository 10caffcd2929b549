"""The Celery app a worker process runs: the shared transport settings plus the registered tasks."""

from __future__ import annotations

from celery import Celery

from worker.tasks import register_tasks
from xclab.settings import Settings
from xclab.transport import create_celery


def create_worker_app(settings: Settings | None = None) -> Celery:
    app = create_celery(settings)
    register_tasks(app)
    return app

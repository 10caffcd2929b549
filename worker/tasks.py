"""Thin Celery tasks: take a run id, hand it to the runner. No torch import at module level."""

from __future__ import annotations

from celery import Celery

from xclab.transport import TASK_EXECUTE_RUN


def register_tasks(app: Celery) -> None:
    @app.task(name=TASK_EXECUTE_RUN, acks_late=True, ignore_result=True)
    def execute_run(run_id: int, attempt: int) -> str:
        from worker.runner import execute_run as run_it

        return run_it(run_id, attempt, app.xclab_settings)  # type: ignore[attr-defined]

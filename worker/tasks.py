"""Thin Celery tasks: take a run id, hand it to the runner (which imports torch only in the pool process)."""

from __future__ import annotations

from celery import Celery, Task

from worker.runner import execute_run
from xclab.transport import TASK_EXECUTE_RUN


def register_tasks(app: Celery) -> None:
    @app.task(name=TASK_EXECUTE_RUN, acks_late=True, ignore_result=True, bind=True)
    def execute_run_task(self: Task, run_id: int, attempt: int) -> str:
        # The node name (e.g. xclab-cpu-gpu-<pid>@host) tells workers on one host apart in a resumed run's record.
        return execute_run(run_id, attempt, app.xclab_settings, self.request.hostname)  # type: ignore[attr-defined]

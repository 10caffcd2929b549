"""How runs are answered: one run with its artifacts' URLs, or a page of runs built in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from backend.models import Run
from backend.schemas.runs import ArtifactOut, RunOut
from backend.store import run_params
from backend.store import runs as run_store
from backend.store.run_details import run_details

BROKER_DOWN = {
    503: {"description": "The broker is unreachable: the run is stored as failed (retry it later)."}
}


def _columns(run: Any) -> dict[str, Any]:
    """The run's own columns as RunOut fields (of a `Run`, or a row of the run table)."""
    return {
        "id": run.id,
        "experiment_id": run.experiment_id,
        "kind": run.kind,
        "name": run.name,
        "grid_id": run.grid_id,
        "cell": run.cell,
        "generator_run": run.generator_run_id,
        "spec": run.spec,
        "hparams": run.hparams,
        "task": run.task,
        "method": run.method,
        "model": run.model,
        "status": run.status,
        "attempt": run.attempt,
        "queue": run.queue,
        "priority": run.priority,
        "worker_host": run.worker_host,
        "cancel_requested": run.cancel_requested,
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "heartbeat_at": run.heartbeat_at,
        "primary_metric": run_store.primary_metric_key(run.task),
        "notes": run.notes or "",
        "environment": run.environment,
        "rerun_of": run.rerun_of,
    }


def run_out(run: Run, request: Request, with_artifacts: bool = True) -> RunOut:
    artifacts = []
    if with_artifacts:
        for a in run.artifacts:
            out = ArtifactOut.model_validate(a)
            out.url = str(request.url_for("download_artifact", run_id=run.id, path=a.path))
            artifacts.append(out)
    return RunOut(
        **_columns(run),
        teachers=[link.teacher_id for link in run.teacher_links],
        summary=run_store.summary(run),
        artifacts=artifacts,
        tags=run_store.run_tags(run),
        params=run_params.params_of(run),
    )


def new_tracking_run_out(row: Any, params: dict[str, Any]) -> RunOut:
    """A tracking run just inserted (`store.tracking_runs`), from its row: nothing else is attached to it yet."""
    return RunOut.model_construct(
        **_columns(row), teachers=[], summary={}, artifacts=[], tags=[], params=params
    )


def listed_runs(session: Session, runs: Sequence[Any]) -> list[dict[str, Any]]:
    """Runs as a list shows them (no artifacts), as plain dicts with RunOut's fields, for `pydantic_core.to_json`.
    Built without a model: every value comes from the database in the types RunOut declares, and validating (or
    even constructing) a hundred models per page cost more than reading them. `tests/backend` checks a listed
    run equals the run read alone, field for field."""
    # A run's teacher links are made from its spec's teachers (`store.runs.new_run`): a page of runs without any
    # (tracking runs, ERM teachers) skips that read.
    with_teachers = any((run.spec or {}).get("teachers") for run in runs)
    details = run_details(session, [r.id for r in runs], with_teachers)
    return [
        {
            **_columns(run),
            "teachers": d.teachers,
            "summary": d.summary,
            "artifacts": [],
            "tags": d.tags,
            "params": d.params,
        }
        for run in runs
        for d in (details[run.id],)
    ]

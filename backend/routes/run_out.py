"""How runs are answered: one run with its artifacts' URLs, or a page of runs built in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from backend.models import Run
from backend.schemas.runs import ArtifactOut, RunOut
from backend.store import run_params
from backend.store import runs as run_store
from backend.store.run_details import run_details
from backend.store.run_rows import RUN_COLUMN_NAMES

BROKER_DOWN = {
    503: {"description": "The broker is unreachable: the run is stored as failed (retry it later)."}
}


# A run's own fields as RunOut answers them (in the order the API has always written them), and the run-table
# attribute each comes from (notes and primary_metric are filled in by `_finish`).
_FIELDS = tuple(
    (name, "generator_run_id" if name == "generator_run" else name)
    for name in (
        "id",
        "experiment_id",
        "kind",
        "name",
        "grid_id",
        "cell",
        "generator_run",
        "spec",
        "hparams",
        "task",
        "method",
        "model",
        "status",
        "attempt",
        "queue",
        "priority",
        "worker_host",
        "cancel_requested",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "primary_metric",
        "notes",
        "environment",
        "rerun_of",
    )
)
_FIELD_NAMES = tuple(name for name, _ in _FIELDS)
# A row's values in field order, picked in one C call; primary_metric has no column (its slot takes the task's
# value until `_finish` replaces it).
_PICK_FROM_ROW = itemgetter(
    *(RUN_COLUMN_NAMES.index("task" if name == "primary_metric" else attr) for name, attr in _FIELDS)
)


def _finish(values: dict[str, Any]) -> dict[str, Any]:
    values["notes"] = values["notes"] or ""
    values["primary_metric"] = run_store.primary_metric_key(values["task"])
    return values


def _columns(run: Run) -> dict[str, Any]:
    """The run's own columns as RunOut fields."""
    return _finish(
        {name: getattr(run, "task" if name == "primary_metric" else attr) for name, attr in _FIELDS}
    )


def _row_columns(row: Any) -> dict[str, Any]:
    """The same from a row of `RUN_COLUMNS` (a runs page; it may end with a sort value), taken as a tuple:
    reading a Row's 27 columns by attribute cost 2.9 ms of a 100-run page."""
    return _finish(dict(zip(_FIELD_NAMES, _PICK_FROM_ROW(row), strict=True)))


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
        **_row_columns(row), teachers=[], summary={}, artifacts=[], tags=[], params=params
    )


def listed_runs(session: Session, runs: Sequence[Any]) -> list[dict[str, Any]]:
    """Runs as a list shows them (no artifacts), as plain dicts with RunOut's fields, for `pydantic_core.to_json`.
    Built without a model: every value comes from the database in the types RunOut declares, and validating (or
    even constructing) a hundred models per page cost more than reading them. `tests/backend` checks a listed
    run equals the run read alone, field for field."""
    # A run's teacher links are made from its spec's teachers (`store.runs.new_run`): a page of runs without any
    # (tracking runs, ERM teachers) skips that read.
    with_teachers = any((run.spec or {}).get("teachers") for run in runs)
    stored = {r.id: r.params_json for r in runs if r.params_json is not None}
    details = run_details(session, [r.id for r in runs], with_teachers, stored)
    return [
        {
            **_row_columns(run),
            "teachers": d.teachers,
            "summary": d.summary,
            "artifacts": [],
            "tags": d.tags,
            "params": d.params,
        }
        for run in runs
        for d in (details[run.id],)
    ]

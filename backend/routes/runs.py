from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from backend import store
from backend.deps import CeleryDep, ReadAuth, SessionDep, SettingsDep, WriteAuth
from backend.models import Run
from backend.queueing import BrokerUnavailable, enqueue, enqueue_all, revoke
from backend.schemas import (
    ArtifactOut,
    ClaimIn,
    CompareOut,
    FinishIn,
    HeartbeatOut,
    RunColumnsOut,
    RunCreate,
    RunOut,
    RunPatch,
    RunsPage,
)

router = APIRouter(prefix="/runs", tags=["runs"])


def run_out(run: Run, request: Request, with_artifacts: bool = True) -> RunOut:
    artifacts = []
    if with_artifacts:
        for a in run.artifacts:
            out = ArtifactOut.model_validate(a)
            out.url = str(request.url_for("download_artifact", run_id=run.id, path=a.path))
            artifacts.append(out)
    return RunOut(
        id=run.id,
        experiment_id=run.experiment_id,
        grid_id=run.grid_id,
        cell=run.cell,
        generator_run=run.generator_run_id,
        spec=run.spec,
        hparams=run.hparams,
        task=run.task,
        method=run.method,
        model=run.model,
        status=run.status,  # type: ignore[arg-type]
        attempt=run.attempt,
        queue=run.queue,
        worker_host=run.worker_host,
        cancel_requested=run.cancel_requested,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        heartbeat_at=run.heartbeat_at,
        teachers=[link.teacher_id for link in run.teacher_links],
        primary_metric=store.primary_metric_key(run.task),
        summary=store.summary(run),
        artifacts=artifacts,
        tags=store.run_tags(run),
        notes=run.notes or "",
    )


def _enqueue_or_503(session: SessionDep, celery: CeleryDep, run: Run) -> None:
    try:
        enqueue(session, celery, run)
    except BrokerUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc))


@router.post("", status_code=status.HTTP_202_ACCEPTED, dependencies=[WriteAuth])
def create_run(
    body: RunCreate,
    session: SessionDep,
    celery: CeleryDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> RunOut:
    """Submit a run; it is queued at once. Poll the Location URL for its status."""
    run = store.create_run(session, body.experiment_id, body.spec, body.queue or settings.default_queue)
    session.commit()
    if run.status == "queued":
        _enqueue_or_503(session, celery, run)
    response.headers["Location"] = str(request.url_for("read_run", run_id=run.id))
    return run_out(run, request)


TagQuery = Annotated[
    list[str], Query(description="Only runs carrying this tag; repeat it for runs carrying every one.")
]


@router.get("", dependencies=[ReadAuth])
def read_runs(
    session: SessionDep,
    request: Request,
    experiment_id: int | None = None,
    run_status: Annotated[list[str], Query(alias="status")] = [],  # noqa: B006 (FastAPI copies defaults)
    task: Annotated[list[str], Query()] = [],  # noqa: B006
    method: Annotated[list[str], Query()] = [],  # noqa: B006
    tag: TagQuery = [],  # noqa: B006
    sort: Annotated[
        str,
        Query(
            description="id, created_at, status, task, method or model, or metric:<key> (latest value; runs "
            "without it last); prefix - for descending."
        ),
    ] = "-id",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> RunsPage:
    """Runs, filtered and sorted on the server, one page at a time (pass next_page_token back for more)."""
    flt = store.RunFilter(experiment_id=experiment_id, status=run_status, task=task, method=method, tags=tag)
    runs, token = store.list_runs(session, flt, sort, limit, page_token)
    return RunsPage(data=[run_out(r, request, with_artifacts=False) for r in runs], next_page_token=token)


@router.get("/columns", dependencies=[ReadAuth])
def read_run_columns(
    session: SessionDep,
    experiment_id: int | None = None,
    run_status: Annotated[list[str], Query(alias="status")] = [],  # noqa: B006
    task: Annotated[list[str], Query()] = [],  # noqa: B006
    method: Annotated[list[str], Query()] = [],  # noqa: B006
    tag: TagQuery = [],  # noqa: B006
) -> RunColumnsOut:
    """The columns a runs table can offer for these runs: metric keys and tags present among them, and the
    dotted spec and hparams paths of the newest ones (a bounded sample)."""
    flt = store.RunFilter(experiment_id=experiment_id, status=run_status, task=task, method=method, tags=tag)
    columns = store.run_columns(session, flt)
    return RunColumnsOut(
        spec_fields=columns.spec_fields,
        hparam_fields=columns.hparam_fields,
        metric_keys=columns.metric_keys,
        tags=columns.tags,
        sampled_runs=columns.sampled_runs,
    )


@router.get("/compare", dependencies=[ReadAuth])
def compare_runs(
    session: SessionDep,
    request: Request,
    ids: Annotated[
        list[int],
        Query(
            min_length=store.COMPARE_MIN,
            max_length=store.COMPARE_MAX,
            description="Run ids, repeated: ?ids=1&ids=2",
        ),
    ],
) -> CompareOut:
    """Runs side by side: the spec and hparams paths whose values differ, and the metric keys they share."""
    runs, diff, keys = store.compare_runs(session, ids)
    return CompareOut(
        runs=[run_out(r, request, with_artifacts=False) for r in runs], spec_diff=diff, metric_keys=keys
    )


@router.get("/{run_id}", dependencies=[ReadAuth])
def read_run(run_id: int, session: SessionDep, request: Request) -> RunOut:
    """One run with its spec, status, summary metrics, teachers and artifacts."""
    return run_out(store.get_run(session, run_id), request)


@router.patch("/{run_id}", dependencies=[WriteAuth])
def annotate_run(run_id: int, body: RunPatch, session: SessionDep, request: Request) -> RunOut:
    """Set a run's tags (the whole set, normalised to lower case) and/or its notes."""
    run = store.annotate_run(session, run_id, body.tags, body.notes)
    session.commit()
    return run_out(run, request)


@router.post("/{run_id}/cancel", dependencies=[WriteAuth])
def cancel_run(run_id: int, session: SessionDep, celery: CeleryDep, request: Request) -> RunOut:
    """Cancel: a queued or waiting run ends at once; a running one stops at its next check (within seconds).
    Runs waiting on it fail, naming it."""
    run, released = store.request_cancel(session, run_id)
    session.commit()
    if run.status == "cancelled":
        revoke(celery, run.celery_task_id)
    enqueue_all(session, celery, released)
    return run_out(run, request)


@router.post("/{run_id}/retry", status_code=status.HTTP_202_ACCEPTED, dependencies=[WriteAuth])
def retry_run(run_id: int, session: SessionDep, celery: CeleryDep, request: Request) -> RunOut:
    """Run a failed or cancelled run again under the same id, as the next attempt."""
    run = store.retry_run(session, run_id)
    session.commit()
    if run.status == "queued":
        _enqueue_or_503(session, celery, run)
    return run_out(run, request)


# Worker-facing lifecycle calls: the same API and token any script could use.


@router.post("/{run_id}/claim", dependencies=[WriteAuth])
def claim_run(run_id: int, body: ClaimIn, session: SessionDep, request: Request) -> RunOut:
    """A worker takes a queued run (409 when it was cancelled or taken)."""
    run = store.claim_run(session, run_id, body.worker_host, body.attempt)
    # Committed before answering: the session's own commit runs after the response is sent, and the
    # worker's next call (heartbeat, metrics, finish) must already see the run as running.
    session.commit()
    return run_out(run, request)


@router.post("/{run_id}/heartbeat", dependencies=[WriteAuth])
def heartbeat(run_id: int, session: SessionDep) -> HeartbeatOut:
    """A running worker's pulse; the answer says whether the user asked to cancel."""
    run = store.heartbeat(session, run_id)
    session.commit()
    return HeartbeatOut(status=run.status, cancel_requested=run.cancel_requested)  # type: ignore[arg-type]


@router.post("/{run_id}/finish", dependencies=[WriteAuth])
def finish_run(
    run_id: int, body: FinishIn, session: SessionDep, celery: CeleryDep, request: Request
) -> RunOut:
    """A worker reports the final status (and the error message of a failure); waiting dependents move on."""
    run, released = store.finish_run(session, run_id, body.status, body.error)
    session.commit()
    enqueue_all(session, celery, released)
    return run_out(run, request)

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic_core import to_json
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from backend.artifact_files import remove_files, run_folder
from backend.deps import (
    CallerDep,
    CeleryDep,
    HolderAuth,
    ReadAuth,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    UnitOfWorkDep,
    WriteAuth,
)
from backend.models import Run
from backend.queueing import enqueue, enqueue_released, revoke
from backend.routes.run_out import BROKER_DOWN, listed_runs, new_tracking_run_out, run_out
from backend.routes.run_query import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    LIMIT_MAX,
    FieldQuery,
    ParamQuery,
    SearchQuery,
    TagQuery,
)
from backend.schemas.runs import (
    MAX_PARAMS,
    ClaimIn,
    CompareOut,
    FinishIn,
    HeartbeatOut,
    ParamsBody,
    ParamsOut,
    RunColumnsOut,
    RunCreate,
    RunOut,
    RunPatch,
    RunsPage,
)
from backend.store import artifacts as artifact_store
from backend.store import lifecycle, run_columns, run_params
from backend.store import runs as run_store
from backend.store.run_list import RunFilter, list_runs
from backend.store.tracking_runs import insert_tracking_run
from backend.unit_of_work import core_unit_of_work, unit_of_work
from xclab.settings import Settings

router = APIRouter(prefix="/runs", tags=["runs"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[WriteAuth],
    responses=BROKER_DOWN,
    response_model=RunOut,
)
async def create_run(body: RunCreate, request: Request) -> Response:
    """Submit a training run (queued at once; poll the Location URL for its status), or, without a spec, start
    a tracking run that a script logs to and finishes itself."""
    # One thread-pool trip for the whole unit of work (with a unit-of-work dependency, the route's body and the
    # commit are a trip each), and the answer written from the model directly (a returned model is validated
    # again). A tracking run usually starts at the front door (`backend.fast_runs`), which calls the same function.
    state = request.app.state
    if body.spec is None:
        out = await run_in_threadpool(create_tracking_run, state.engine, body)
    else:
        out = run_out(await run_in_threadpool(_create_training_run, state, body), request)
    return Response(
        out.model_dump_json(),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
        headers={"Location": str(request.url_for("read_run", run_id=out.id))},
    )


def create_tracking_run(engine: Engine, body: RunCreate) -> RunOut:
    with core_unit_of_work(engine, autocommit=engine.dialect.name == "postgresql") as connection:
        row, params = insert_tracking_run(connection, body.experiment_id, name=body.name, params=body.params)
    return new_tracking_run_out(row, params)


def _create_training_run(state: State, body: RunCreate) -> Run:
    settings: Settings = state.settings
    with unit_of_work(state.session_factory) as uow:
        run = run_store.create_run(
            uow.session,
            body.experiment_id,
            body.spec,  # type: ignore[arg-type]  # the caller checked it is there
            body.queue or settings.default_queue,
            priority=body.priority,
            name=body.name,
            params=body.params,
        )
        if run.status == "queued":
            enqueue(uow, state.celery, run)
        return run


@router.get("", dependencies=[ReadAuth], response_model=RunsPage)
async def read_runs(
    request: Request,
    experiment_id: int | None = None,
    run_status: Annotated[list[str], Query(alias="status")] = [],  # noqa: B006 (FastAPI copies defaults)
    task: Annotated[list[str], Query()] = [],  # noqa: B006
    method: Annotated[list[str], Query()] = [],  # noqa: B006
    tag: TagQuery = [],  # noqa: B006
    param: ParamQuery = [],  # noqa: B006
    field: FieldQuery = [],  # noqa: B006
    search: SearchQuery = "",
    sort: Annotated[
        str,
        Query(
            description="id, created_at, status, task, method or model, or metric:<key> (latest value; runs "
            "without it last); prefix - for descending."
        ),
    ] = DEFAULT_SORT,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = DEFAULT_LIMIT,
    page_token: str | None = None,
) -> Response:
    """Runs, filtered and sorted on the server, one page at a time (pass next_page_token back for more)."""
    flt = RunFilter(
        experiment_id=experiment_id,
        status=run_status,
        task=task,
        method=method,
        tags=tag,
        params=param,
        fields=field,
        search=search,
    )
    # One thread-pool trip for the read and its session's end (a unit-of-work dependency costs a second trip), in
    # a read session (no BEGIN and COMMIT round trips on PostgreSQL).
    page = await run_in_threadpool(
        runs_page, request.app.state.read_session_factory, flt, sort, limit, page_token
    )
    return Response(page, media_type="application/json")


def runs_page(
    factory: sessionmaker[Session], flt: RunFilter, sort: str, limit: int, page_token: str | None
) -> bytes:
    """A runs page as the JSON `GET /runs` answers (also at the front door, `backend.fast_search`)."""
    with unit_of_work(factory) as uow:
        runs, token = list_runs(uow.session, flt, sort, limit, page_token)
        return to_json({"data": listed_runs(uow.session, runs), "next_page_token": token})


@router.get("/columns", dependencies=[ReadAuth])
def read_run_columns(
    session: ReadSessionDep,
    experiment_id: int | None = None,
    run_status: Annotated[list[str], Query(alias="status")] = [],  # noqa: B006
    task: Annotated[list[str], Query()] = [],  # noqa: B006
    method: Annotated[list[str], Query()] = [],  # noqa: B006
    tag: TagQuery = [],  # noqa: B006
) -> RunColumnsOut:
    """The columns a runs table can offer for these runs: metric keys and tags present among them, and the
    dotted spec and hparams paths of the newest ones (a bounded sample)."""
    flt = RunFilter(experiment_id=experiment_id, status=run_status, task=task, method=method, tags=tag)
    columns = run_columns.run_columns(session, flt)
    return RunColumnsOut(
        spec_fields=columns.spec_fields,
        hparam_fields=columns.hparam_fields,
        metric_keys=columns.metric_keys,
        tags=columns.tags,
        sampled_runs=columns.sampled_runs,
        param_keys=columns.param_keys,
    )


@router.get("/compare", dependencies=[ReadAuth])
def compare_runs(
    session: ReadSessionDep,
    request: Request,
    ids: Annotated[
        list[int],
        Query(
            min_length=run_columns.COMPARE_MIN,
            max_length=run_columns.COMPARE_MAX,
            description="Run ids, repeated: ?ids=1&ids=2",
        ),
    ],
) -> CompareOut:
    """Runs side by side: the spec and hparams paths whose values differ, and the metric keys they share."""
    runs, diff, keys = run_columns.compare_runs(session, ids)
    return CompareOut(
        runs=[run_out(r, request, with_artifacts=False) for r in runs], spec_diff=diff, metric_keys=keys
    )


@router.get("/{run_id}", dependencies=[ReadAuth])
def read_run(run_id: int, session: ReadSessionDep, request: Request) -> RunOut:
    """One run with its spec, status, summary metrics, teachers and artifacts."""
    return run_out(run_store.get_run(session, run_id), request)


@router.patch("/{run_id}", dependencies=[WriteAuth])
def annotate_run(run_id: int, body: RunPatch, session: SessionDep, request: Request) -> RunOut:
    """Set a run's tags (the whole set, normalised to lower case) and/or its notes."""
    return run_out(run_store.annotate_run(session, run_id, body.tags, body.notes), request)


@router.post("/{run_id}/params", dependencies=[WriteAuth])
def log_params(run_id: int, body: ParamsBody, session: SessionDep) -> ParamsOut:
    """Add params to a run (safe to repeat: a param keeps its first value; another value is a 409)."""
    run_store.require_run(session, run_id)
    run_params.add_params(session, run_id, body.params, MAX_PARAMS)
    return ParamsOut(params=run_params.params_of(run_store.get_run(session, run_id)))


@router.post("/{run_id}/cancel", dependencies=[WriteAuth])
def cancel_run(run_id: int, uow: UnitOfWorkDep, celery: CeleryDep, request: Request) -> RunOut:
    """Cancel: a queued or waiting run ends at once; a running one stops at its next check (within seconds).
    Runs waiting on it fail, naming it."""
    run, released = lifecycle.request_cancel(uow.session, run_id)
    if run.status == "cancelled":
        task_id = run.celery_task_id
        uow.commit_then(lambda: revoke(celery, task_id))
    enqueue_released(uow, celery, released)
    return run_out(run, request)


@router.post(
    "/{run_id}/retry", status_code=status.HTTP_202_ACCEPTED, dependencies=[WriteAuth], responses=BROKER_DOWN
)
def retry_run(run_id: int, uow: UnitOfWorkDep, celery: CeleryDep, request: Request) -> RunOut:
    """Run a failed or cancelled run again under the same id, as the next attempt."""
    run = lifecycle.retry_run(uow.session, run_id)
    if run.status == "queued":
        enqueue(uow, celery, run)
    return run_out(run, request)


# Worker-facing lifecycle calls: the same API and token any script could use. The unit of work commits before
# the answer is sent, so the worker's next call (heartbeat, metrics, finish) already sees what this one wrote.


@router.post("/{run_id}/claim")
def claim_run(run_id: int, body: ClaimIn, session: SessionDep, request: Request, caller: CallerDep) -> RunOut:
    """A worker takes a queued run (409 when it was cancelled or taken); from then on only this worker token may
    heartbeat, report on and finish it."""
    run = lifecycle.claim_run(session, run_id, body.worker_host, body.attempt, token_id=caller.token_id)
    return run_out(run, request)


@router.post("/{run_id}/heartbeat", dependencies=[HolderAuth])
def heartbeat(run_id: int, session: SessionDep, attempt: int | None = None) -> HeartbeatOut:
    """A running worker's pulse; the answer says whether the user asked to cancel. With `attempt`, 409 when the
    run has moved on to another attempt (its worker was presumed dead and the run re-queued)."""
    run = lifecycle.heartbeat(session, run_id, attempt)
    return HeartbeatOut(status=run.status, cancel_requested=run.cancel_requested)  # type: ignore[arg-type]


@router.post("/{run_id}/finish", dependencies=[HolderAuth])
def finish_run(
    run_id: int,
    body: FinishIn,
    uow: UnitOfWorkDep,
    celery: CeleryDep,
    request: Request,
    settings: SettingsDep,
) -> RunOut:
    """A worker reports the final status (and the error message of a failure); waiting dependents move on. A
    succeeded run's resume checkpoint is dropped (a failed or cancelled one keeps it: its retry resumes from it)."""
    run, released = lifecycle.finish_run(uow.session, run_id, body.status, body.error, body.attempt)
    dropped = artifact_store.drop_resume_checkpoints(uow.session, run_id) if run.status == "succeeded" else []
    enqueue_released(uow, celery, released)
    if dropped:  # the files go once the records are gone for good
        folder = run_folder(settings.resolved_artifact_root, run_id)
        uow.commit_then(lambda: remove_files(folder, dropped))
    return run_out(run, request)

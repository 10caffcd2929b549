"""The FastAPI app factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, StatementError

from backend import planner_stats
from backend.db import make_engine, make_read_session_factory, make_session_factory, verify_schema
from backend.errors import StoreError
from backend.limits import API_PREFIX, BodyTooLarge, RequestGuard, echo, too_large_detail
from backend.live import Api
from backend.queueing import enqueue_released
from backend.requeue import LostRunSweeper
from backend.routes import (
    analytics,
    artifacts,
    catalog,
    experiments,
    grids,
    health,
    logs,
    metrics,
    reruns,
    run_count,
    runs,
    tokens,
    views,
    whoami,
    workers,
)
from backend.store.lifecycle import fail_stale_runs
from backend.store.loop_writer import LoopWriter, PostgresLoopWriter
from backend.store.sqlite_loop_writer import SqliteLoopWriter
from backend.unit_of_work import unit_of_work
from xclab import __version__
from xclab.settings import Settings, get_settings
from xclab.transport import create_celery

log = logging.getLogger(__name__)


async def _sweep_stale_runs(app: FastAPI) -> None:
    """Runs whose worker vanished are re-queued (up to XCL_MAX_ATTEMPTS attempts) or failed: the embedded broker
    never redelivers, and a hung run must not sit forever. Queued runs whose broker message is gone are
    published again (backend.requeue)."""
    settings: Settings = app.state.settings
    interval = max(5.0, settings.heartbeat_timeout_seconds / 4)
    lost = LostRunSweeper(grace_seconds=max(30.0, 2 * interval))
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(_sweep_once, app, settings, lost)


def _sweep_once(app: FastAPI, settings: Settings, lost: LostRunSweeper) -> None:
    celery = app.state.celery
    try:
        with unit_of_work(app.state.session_factory) as uow:
            failed, requeued = fail_stale_runs(
                uow.session, settings.heartbeat_timeout_seconds, settings.max_attempts
            )
            enqueue_released(uow, celery, requeued)
        if failed:
            log.warning("failed runs with a silent worker: %s", failed)
        if requeued:
            log.warning("re-queued runs with a silent worker: %s", [r.id for r in requeued])
        with unit_of_work(app.state.session_factory) as uow:
            republished = lost.sweep(uow.session, celery, settings)
        if republished:
            log.warning("republished queued runs missing from the broker: %s", republished)
    except Exception:
        log.exception("stale-run sweep failed")


def _loop_writer(engine: Engine) -> LoopWriter | None:
    """The front door's loop writer (writes on the event loop) for this database, if it has one."""
    for kind in (PostgresLoopWriter, SqliteLoopWriter):
        if kind.serves(engine):
            return kind(engine)
    return None


def _drop_none(error: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in error.items() if v is not None or k == "input"}


def create_app(settings: Settings | None = None, *, check_schema: bool = True) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url)
    if check_schema:
        verify_schema(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_sweep_stale_runs(app))]
        if engine.dialect.name == "postgresql":
            tasks.append(asyncio.create_task(planner_stats.keep_fresh(engine)))
        # Metric writes and tracking runs' creation on the event loop (`backend.fast_metrics`, `backend.fast_runs`);
        # a lifespan entered again (a test client inside another) gets a writer of its own and gives the outer one
        # back when it ends.
        outer = getattr(app.state, "loop_writer", None)
        writer = _loop_writer(engine)
        if writer is not None:
            await writer.open()
            app.state.loop_writer = writer
        yield
        for task in tasks:
            task.cancel()
        if writer is not None:
            app.state.loop_writer = outer
            await writer.close()
        engine.dispose()

    app = Api(
        live_path=f"{API_PREFIX}/health/live",
        title="XCL Lab",
        version=__version__,
        description="Experiment manager for knowledge distillation and extracurricular learning.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.read_session_factory = make_read_session_factory(engine)
    app.state.celery = create_celery(settings)
    app.state.api_token = settings.resolved_api_token()
    app.state.auth_disabled = settings.insecure_no_auth
    if settings.insecure_no_auth:
        log.warning("AUTHENTICATION IS OFF (insecure_no_auth): anyone who can reach this API can do anything")

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own shape, but the offending input quoted safely: NaN or a lone surrogate in an echo is a 500.
        detail = [{**e, "input": echo(e.get("input")), "ctx": None} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": [_drop_none(e) for e in detail]})

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(status_code=413, content={"detail": too_large_detail(exc.limit)})

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def out_of_range(_: Request, exc: Exception) -> JSONResponse:
        # The last line of defence behind the request checks: a value the database cannot hold is the client's.
        log.warning("value refused by the database: %s", exc)
        return JSONResponse(
            status_code=422,
            content={
                "detail": "a value is out of range for the database (64-bit integers, text without NUL)"
            },
        )

    @app.exception_handler(StatementError)
    async def statement_error(request: Request, exc: StatementError) -> JSONResponse:
        if isinstance(exc.orig, OverflowError | ValueError):
            return await out_of_range(request, exc)
        raise exc

    app.add_middleware(
        RequestGuard,
        prefix=API_PREFIX,
        artifact_limit=settings.max_artifact_bytes,
        token_for_writes=not settings.insecure_no_auth,
        token_for_reads=settings.read_requires_auth and not settings.insecure_no_auth,
    )

    for module in (
        health,
        catalog,
        experiments,
        run_count,
        runs,
        reruns,
        metrics,
        logs,
        artifacts,
        grids,
        views,
        analytics,
        tokens,
        whoami,
        workers,
    ):
        app.include_router(module.router, prefix=API_PREFIX)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app

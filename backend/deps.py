"""Request-scoped dependencies: settings, the unit of work and its session, who is calling and what they may do.

Roles: `admin` may do everything (the XCL_API_TOKEN token is an admin); `user` reads, submits, cancels, retries and
annotates; `worker` claims runs and reports (heartbeat, metrics, artifacts, finish) only on the run it claimed.
A user may also write metrics and artifacts of a run no worker holds (a run tracked from a script).

The dependencies that only read app state are `async def`: FastAPI runs a plain `def` dependency in its thread
pool, and a thread hop per dependency was a large part of a small request's cost. The unit of work's commit still
runs in the thread pool (see `request_unit_of_work`); the token checks, which read the database, stay plain."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Run
from backend.store.tokens import find_token
from backend.unit_of_work import UnitOfWork, request_unit_of_work
from xclab.artifact_names import RESUME_DIR, RESUME_KIND
from xclab.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    description="An API token: admin (XCL_API_TOKEN), or a user or worker token from `xclab token create`.",
)


@dataclass(frozen=True)
class Principal:
    role: str  # admin, user or worker
    token_id: int | None = None  # None for the configured admin token (and with auth off)
    name: str = "admin"


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    async with request_unit_of_work(request.app.state.session_factory) as uow:
        yield uow


# scope="function": the commit runs before the response is sent (see backend.unit_of_work).
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


async def get_session(uow: UnitOfWorkDep) -> Session:
    return uow.session


async def get_celery(request: Request) -> Celery:
    return request.app.state.celery


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
CeleryDep = Annotated[Celery, Depends(get_celery)]

UNAUTHORISED = (
    "missing or wrong token: send 'Authorization: Bearer <token>' (XCL_API_TOKEN, .xclab/token, or a token from "
    "`xclab token create`)"
)


def _unauthorised() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=UNAUTHORISED, headers={"WWW-Authenticate": "Bearer"}
    )


def _forbidden(role: str, what: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=f"a {role} token may not {what}")


def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """Who is calling; 401 when auth is on and the token is missing, wrong or revoked."""
    if request.app.state.auth_disabled:
        return Principal("admin", name="anyone (authentication is off)")
    if credentials is None:
        raise _unauthorised()
    admin: str | None = request.app.state.api_token
    given = credentials.credentials
    if admin is not None and secrets.compare_digest(given.encode(), admin.encode()):
        return Principal("admin")
    with request.app.state.session_factory() as session:
        row = find_token(session, given)
        if row is None:
            raise _unauthorised()
        return Principal(row.role, row.id, row.name)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require_read(request: Request, credentials: Credentials) -> Principal | None:
    if request.app.state.settings.read_requires_auth:
        return authenticate(request, credentials)
    return None


def require_write(request: Request, credentials: Credentials) -> Principal:
    """A researcher's write: admin or user."""
    who = authenticate(request, credentials)
    if who.role == "worker":
        raise _forbidden("worker", "do this: workers only claim runs and report on the run they hold")
    return who


def require_admin(request: Request, credentials: Credentials) -> Principal:
    who = authenticate(request, credentials)
    if who.role != "admin":
        raise _forbidden(who.role, "manage tokens: that needs the admin token")
    return who


def require_worker(request: Request, credentials: Credentials) -> Principal:
    """Claiming a run: a worker (or admin)."""
    who = authenticate(request, credentials)
    if who.role == "user":
        raise _forbidden("user", "claim runs: that is a worker's call")
    return who


def _holder(request: Request, run_id: int) -> int | None:
    with request.app.state.session_factory() as session:
        return session.scalar(select(Run.claim_token_id).where(Run.id == run_id))


def require_holder(request: Request, run_id: int, credentials: Credentials) -> Principal:
    """Heartbeat and finish: admin, or the worker token that claimed the run."""
    who = authenticate(request, credentials)
    if who.role == "user":
        raise _forbidden("user", "report on a run: that is its worker's call")
    if who.role == "worker" and _holder(request, run_id) != who.token_id:
        raise _forbidden("worker", f"report on run {run_id}: it is not the run this token claimed")
    return who


def require_reporter(request: Request, run_id: int, credentials: Credentials) -> Principal:
    """Metrics and artifacts: admin; the worker holding the run; a user when no worker holds it."""
    who = authenticate(request, credentials)
    if who.role == "admin":
        return who
    holder = _holder(request, run_id)
    if who.role == "worker" and holder != who.token_id:
        raise _forbidden("worker", f"write to run {run_id}: it is not the run this token claimed")
    if who.role == "user" and holder is not None:
        raise _forbidden(
            "user", f"write to run {run_id}: a worker holds it, and only that worker reports on it"
        )
    return who


def require_artifact_writer(request: Request, run_id: int, path: str, credentials: Credentials) -> Principal:
    """Artifacts: as metrics (require_reporter), except a run's resume checkpoint, which its next attempt trains
    from: only the worker holding the run (or admin) writes it, so a user cannot plant weights in a queued run."""
    who = require_reporter(request, run_id, credentials)
    resume = (
        PurePosixPath(path.lstrip("/")).parts[:1] == (RESUME_DIR,)
        or request.query_params.get("kind") == RESUME_KIND
    )
    if who.role == "user" and resume:
        raise _forbidden(
            "user", f"write run {run_id}'s resume checkpoint: only the worker holding the run does"
        )
    return who


WriteAuth = Depends(require_write)
ReadAuth = Depends(require_read)
AdminAuth = Depends(require_admin)
WorkerAuth = Depends(require_worker)
HolderAuth = Depends(require_holder)
ReporterAuth = Depends(require_reporter)
ArtifactWriterAuth = Depends(require_artifact_writer)
CallerDep = Annotated[Principal, Depends(require_worker)]
AnyCallerDep = Annotated[Principal, Depends(authenticate)]

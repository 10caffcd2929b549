"""Request-scoped dependencies: settings, the unit of work and its session, who is calling and what they may do.

Roles: `admin` may do everything (the XCL_API_TOKEN token is an admin); `user` reads, submits, cancels, retries and
annotates; `worker` claims runs and reports (heartbeat, metrics, artifacts, finish) only on the run it claimed.
A user may also write metrics and artifacts of a run no worker holds (a run tracked from a script).

The dependencies are `async def`: FastAPI runs a plain `def` dependency in its thread pool, and a thread hop per
dependency was a large part of a small request's cost. A token is checked on the event loop when it is the admin
token or verified recently (`backend.token_cache`, which also says how soon a revoke takes effect); the database
is read in the thread pool only on a miss, and for the holder checks of worker and user tokens, each time in a read
session (on PostgreSQL without a transaction's BEGIN and ROLLBACK). The unit of
work's commit runs in the thread pool (see `request_unit_of_work`)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.models import Run
from backend.store.metrics import ANY_HOLDER, HolderRule
from backend.store.tokens import find_token_by_hash, token_hash
from backend.token_cache import CachedToken, TokenCache
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


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for a route that only reads (`backend.db.make_read_session_factory`: on PostgreSQL no BEGIN and
    COMMIT round trips), ended like a unit of work's (its commit has nothing to send). It refuses to write: an
    ORM change fails its flush, an insert, update or delete statement fails before it is sent."""
    async with request_unit_of_work(request.app.state.read_session_factory) as uow:
        yield uow.session


async def get_celery(request: Request) -> Celery:
    return request.app.state.celery


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
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


def configured_caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The caller when no database read is needed (auth off, the admin token), else None; 401 for no token."""
    if request.app.state.auth_disabled:
        return Principal("admin", name="anyone (authentication is off)")
    if credentials is None:
        raise _unauthorised()
    admin: str | None = request.app.state.api_token
    if admin is not None and secrets.compare_digest(credentials.credentials.encode(), admin.encode()):
        return Principal("admin")
    return None


def cached_caller(request: Request, digest: str) -> Principal | None:
    hit = token_cache(request).get(digest)
    return Principal(hit.role, hit.token_id, hit.name) if hit else None


def _from_database(request: Request, digest: str) -> Principal:
    cache = token_cache(request)
    generation = cache.generation  # read before the lookup: a revoke committed meanwhile keeps it out
    with request.app.state.read_session_factory() as session:
        row = find_token_by_hash(session, digest)
        if row is None:
            raise _unauthorised()
        cache.put(digest, CachedToken(row.id, row.role, row.name), generation)
        return Principal(row.role, row.id, row.name)


def token_cache(request: Request) -> TokenCache:
    cache = getattr(request.app.state, "token_cache", None)
    if cache is None:
        cache = request.app.state.token_cache = TokenCache()
    return cache


def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """Who is calling; 401 when auth is on and the token is missing, wrong or revoked. For code already in a
    worker thread; dependencies use `caller`, which reads the database only on a token cache miss."""
    who = configured_caller(request, credentials)
    if who is not None or credentials is None:
        return who or Principal("admin")
    digest = token_hash(credentials.credentials)
    return cached_caller(request, digest) or _from_database(request, digest)


async def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """`authenticate` on the event loop: the admin token and cached tokens cost no thread-pool trip."""
    who = configured_caller(request, credentials)
    if who is not None or credentials is None:
        return who or Principal("admin")
    digest = token_hash(credentials.credentials)
    return cached_caller(request, digest) or await run_in_threadpool(_from_database, request, digest)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
Caller = Annotated[Principal, Depends(caller)]


async def require_read(request: Request, credentials: Credentials) -> Principal | None:
    if request.app.state.settings.read_requires_auth:
        return await caller(request, credentials)
    return None


async def require_write(who: Caller) -> Principal:
    """A researcher's write: admin or user."""
    if who.role == "worker":
        raise _forbidden("worker", "do this: workers only claim runs and report on the run they hold")
    return who


async def require_admin(who: Caller) -> Principal:
    if who.role != "admin":
        raise _forbidden(who.role, "manage tokens: that needs the admin token")
    return who


async def require_worker(who: Caller) -> Principal:
    """Claiming a run: a worker (or admin)."""
    if who.role == "user":
        raise _forbidden("user", "claim runs: that is a worker's call")
    return who


_HOLDER = select(Run.claim_token_id).where(Run.id == bindparam("run_id"))


def holder(session: Session, run_id: int) -> int | None:
    """The id of the worker token that claimed the run (None: no worker holds it); read through the Core
    connection, as the first statement of its session (nothing to flush), without the ORM's per-statement cost."""
    return session.connection().execute(_HOLDER, {"run_id": run_id}).scalar()


def _holder(request: Request, run_id: int) -> int | None:
    with request.app.state.read_session_factory() as session:
        return holder(session, run_id)


async def require_holder(request: Request, run_id: int, who: Caller) -> Principal:
    """Heartbeat and finish: admin, or the worker token that claimed the run."""
    if who.role == "user":
        raise _forbidden("user", "report on a run: that is its worker's call")
    if who.role == "worker" and await run_in_threadpool(_holder, request, run_id) != who.token_id:
        raise _forbidden("worker", f"report on run {run_id}: it is not the run this token claimed")
    return who


def reporter_rule(who: Principal) -> HolderRule:
    """Metrics and artifacts: admin writes to any run; a worker only to the run it holds; a user only to a run no
    worker holds."""
    if who.role == "admin":
        return ANY_HOLDER
    return HolderRule(any_holder=False, holder=who.token_id if who.role == "worker" else None)


def refuse_reporter(who: Principal, run_id: int) -> None:
    """Raise the 403 for a caller `reporter_rule` keeps out of the run."""
    if who.role == "worker":
        raise _forbidden("worker", f"write to run {run_id}: it is not the run this token claimed")
    raise _forbidden("user", f"write to run {run_id}: a worker holds it, and only that worker reports on it")


def check_reporter(session: Session, who: Principal, run_id: int) -> None:
    """`reporter_rule`, checked in the given session (`_check_reporter`'s read session, before an artifact's
    write). Metric writes check the same rule in their statement (`store.metrics.write_points`)."""
    rule = reporter_rule(who)
    if rule.any_holder:
        return
    held_by = holder(session, run_id)
    if held_by != rule.holder:
        refuse_reporter(who, run_id)


def _check_reporter(request: Request, who: Principal, run_id: int) -> None:
    with request.app.state.read_session_factory() as session:
        check_reporter(session, who, run_id)


async def require_reporter(request: Request, run_id: int, who: Caller) -> Principal:
    if who.role != "admin":
        await run_in_threadpool(_check_reporter, request, who, run_id)
    return who


async def require_artifact_writer(request: Request, run_id: int, path: str, who: Caller) -> Principal:
    """Artifacts: as metrics (require_reporter), except a run's resume checkpoint, which its next attempt trains
    from: only the worker holding the run (or admin) writes it, so a user cannot plant weights in a queued run."""
    who = await require_reporter(request, run_id, who)
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
AnyCallerDep = Caller

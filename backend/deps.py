"""Request-scoped dependencies: settings, the unit of work and its session, the token checks.

All are `async def`: FastAPI runs a plain `def` dependency in its thread pool, and a thread hop per dependency
was a large part of a small request's cost (more so on a busy machine, where each hop waits to be scheduled).
The unit of work's commit still runs in the thread pool (see `request_unit_of_work`)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from backend.unit_of_work import UnitOfWork, request_unit_of_work
from xclab.settings import Settings

bearer = HTTPBearer(
    auto_error=False, description="The admin token (`xclab up` prints it; XCL_API_TOKEN sets it)."
)


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


def _check(request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
    expected: str | None = request.app.state.api_token
    if expected is None:
        return
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong token: send 'Authorization: Bearer <token>' (see XCL_API_TOKEN or .xclab/token)",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_write(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    _check(request, credentials)


async def require_read(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    if request.app.state.settings.read_requires_auth:
        _check(request, credentials)


WriteAuth = Depends(require_write)
ReadAuth = Depends(require_read)

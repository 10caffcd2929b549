from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import text

from backend.db import current_revision, head_revision
from backend.deps import Credentials, authenticate
from backend.schemas.system import BrokerHealth, DatabaseHealth, HealthOut
from xclab import __version__

router = APIRouter(tags=["health"])


def _authorised(request: Request, credentials: HTTPAuthorizationCredentials | None) -> bool:
    try:
        authenticate(request, credentials)
    except HTTPException:
        return False
    return True


def _broker_ok(request: Request) -> tuple[bool, str]:
    try:
        with request.app.state.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:  # any transport error means "unreachable"
        return False, f"{type(exc).__name__}: {exc}"


@router.get(
    "/health", responses={503: {"model": HealthOut, "description": "The database or broker is down."}}
)
def health(request: Request, response: Response, credentials: Credentials) -> HealthOut:
    """Liveness plus database and broker reachability; 503 when either is down. When reads require a token and
    none valid is sent, only the verdicts are shown: no version, schema revision, broker address or error text."""
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_ok, db_detail = True, "ok"
        schema = current_revision(engine)
    except Exception as exc:
        db_ok, db_detail, schema = False, f"{type(exc).__name__}: {exc}", None
    broker_ok, broker_detail = _broker_ok(request)
    ok = db_ok and broker_ok
    if not ok:
        response.status_code = 503
    if request.app.state.settings.read_requires_auth and not _authorised(request, credentials):
        verdict = {True: "ok", False: "down"}
        return HealthOut(
            status="ok" if ok else "degraded",
            version="",
            database=DatabaseHealth(ok=db_ok, detail=verdict[db_ok], dialect="", revision=None, head=None),
            broker=BrokerHealth(ok=broker_ok, detail=verdict[broker_ok], transport=""),
        )
    return HealthOut(
        status="ok" if ok else "degraded",
        version=__version__,
        database=DatabaseHealth(
            ok=db_ok, detail=db_detail, dialect=engine.dialect.name, revision=schema, head=head_revision()
        ),
        broker=BrokerHealth(
            ok=broker_ok,
            detail=broker_detail,
            transport=request.app.state.settings.resolved_broker_url.split(":", 1)[0],
        ),
    )

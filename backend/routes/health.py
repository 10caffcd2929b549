"""Liveness (touches nothing) and readiness (database and broker, the broker check cached briefly).

`/health/live` is answered by `backend.live.Api` before routing, so a probe or a latency check measures the
server itself; the route below documents it (and answers, with no dependency, if that layer is bypassed). `/health/ready` (and `/health`, kept for existing callers) runs `SELECT 1` and reads the schema
revision each time, but asks the broker at most once per `BROKER_CHECK_TTL_S`: a broker round trip (a Redis
connect, a filesystem listing) per probe is what made the cheapest request cost milliseconds.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import text

from backend.db import head_revision
from backend.deps import Credentials, authenticate
from backend.schemas.system import BrokerHealth, DatabaseHealth, HealthOut, LiveOut
from xclab import __version__

router = APIRouter(tags=["health"])

BROKER_CHECK_TTL_S = 2.0  # an outage shows within 2 s; a probe every second costs one broker check per 2 s


class BrokerCheck:
    """The last broker check's outcome, reused for `ttl` seconds (one check at a time across threads)."""

    def __init__(self, ttl: float = BROKER_CHECK_TTL_S) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._result: tuple[bool, str] = (False, "not checked yet")

    def get(self, request: Request) -> tuple[bool, str]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                self._result = _broker_ok(request)
                self._at = time.monotonic()
            return self._result


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


@lru_cache(maxsize=1)
def _head() -> str | None:
    """The migrations' head never changes while a server runs; reading the scripts once is enough."""
    return head_revision()


@router.get("/health/live")
async def live() -> LiveOut:
    """Liveness: the process answers. Touches no database, broker or thread pool."""
    return LiveOut(status="ok", version=__version__)


def _broker_check(request: Request) -> BrokerCheck:
    check = getattr(request.app.state, "broker_check", None)
    if check is None:
        check = request.app.state.broker_check = BrokerCheck()
    return check


@router.get(
    "/health/ready", responses={503: {"model": HealthOut, "description": "The database or broker is down."}}
)
def ready(request: Request, response: Response, credentials: Credentials) -> HealthOut:
    """Readiness: database reachable (checked on every call) and broker reachable (checked at most every
    2 s); 503 when either is down. When reads require a token and none valid is sent, only the verdicts are
    shown: no version, schema revision, broker address or error text."""
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:  # one pooled connection, one query: reachable, and at which revision
            schema = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        db_ok, db_detail = True, "ok"
    except Exception as exc:
        db_ok, db_detail, schema = False, f"{type(exc).__name__}: {exc}", None
    broker_ok, broker_detail = _broker_check(request).get(request)
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
            ok=db_ok, detail=db_detail, dialect=engine.dialect.name, revision=schema, head=_head()
        ),
        broker=BrokerHealth(
            ok=broker_ok,
            detail=broker_detail,
            transport=request.app.state.settings.resolved_broker_url.split(":", 1)[0],
        ),
    )


# The original path: readiness, for the compose healthcheck and existing clients.
router.add_api_route(
    "/health",
    ready,
    methods=["GET"],
    name="health",
    responses={503: {"model": HealthOut, "description": "The database or broker is down."}},
)

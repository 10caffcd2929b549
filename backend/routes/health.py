from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from backend.db import current_revision, head_revision
from backend.schemas.system import BrokerHealth, DatabaseHealth, HealthOut
from xclab import __version__

router = APIRouter(tags=["health"])


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
def health(request: Request, response: Response) -> HealthOut:
    """Liveness plus database and broker reachability; 503 when either is down."""
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

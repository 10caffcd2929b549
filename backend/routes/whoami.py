from __future__ import annotations

from fastapi import APIRouter, Request

from backend.deps import AnyCallerDep
from backend.schemas.tokens import WhoAmI

router = APIRouter(tags=["tokens"])


@router.get("/whoami")
def whoami(caller: AnyCallerDep, request: Request) -> WhoAmI:
    """The role and name of the token sent (401 without a valid one): how a client checks a login."""
    return WhoAmI(role=caller.role, name=caller.name, auth=not request.app.state.auth_disabled)  # type: ignore[arg-type]

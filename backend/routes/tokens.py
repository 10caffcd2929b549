from __future__ import annotations

from fastapi import APIRouter, Request, status

from backend.deps import AdminAuth, ReadSessionDep, SessionDep, UnitOfWorkDep, token_cache
from backend.schemas.tokens import TokenCreate, TokenCreated, TokenOut, TokensPage
from backend.store import tokens as token_store

router = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=[AdminAuth])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, session: SessionDep) -> TokenCreated:
    """Create a token of a role (admin only); the answer holds the token, shown this once."""
    row, token = token_store.create_token(session, body.name, body.role)
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=token)


@router.get("")
def read_tokens(session: ReadSessionDep, include_revoked: bool = False) -> TokensPage:
    """Tokens (never their values), oldest first."""
    return TokensPage(
        data=[TokenOut.model_validate(t) for t in token_store.list_tokens(session, include_revoked)]
    )


@router.post("/{token_id}/revoke")
def revoke_token(token_id: int, uow: UnitOfWorkDep, request: Request) -> TokenOut:
    """Revoke a token: it is refused from the next request on."""
    row = token_store.revoke_token(uow.session, token_id)
    # Forgotten after the commit: a lookup that began before it cannot cache the token again.
    uow.commit_then(lambda: token_cache(request).forget(token_id))
    return TokenOut.model_validate(row)

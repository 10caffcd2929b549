"""API tokens with a role (admin, user, worker). Only a token's sha256 is stored; the token itself is shown
once, when it is created."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import NotFound, invalid
from backend.models import TOKEN_ROLES, ApiToken, utcnow

PREFIX = {"admin": "xca_", "user": "xcu_", "worker": "xcw_"}  # tells a reader what a leaked token can do


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, name: str, role: str) -> tuple[ApiToken, str]:
    """A new token of `role`; returns its row and the token (not stored anywhere but in the caller's hands)."""
    if role not in TOKEN_ROLES:
        raise invalid(("body", "role"), f"role must be one of: {', '.join(TOKEN_ROLES)}", role)
    token = PREFIX[role] + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role, token_sha256=token_hash(token))
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session, include_revoked: bool = False) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(stmt))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


def find_token(session: Session, token: str) -> ApiToken | None:
    """The live (not revoked) token with this value; looked up by hash, so timing reveals nothing of it."""
    return find_token_by_hash(session, token_hash(token))


def find_token_by_hash(session: Session, digest: str) -> ApiToken | None:
    return session.scalars(
        select(ApiToken).where(ApiToken.token_sha256 == digest, ApiToken.revoked_at.is_(None))
    ).first()


def has_live_tokens(session: Session) -> bool:
    return session.scalar(select(ApiToken.id).where(ApiToken.revoked_at.is_(None)).limit(1)) is not None

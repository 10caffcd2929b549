"""Saved views: named runs-table setups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.errors import Conflict, NotFound
from backend.models import SavedView


def create_view(session: Session, name: str, params: dict[str, Any]) -> SavedView:
    view = SavedView(name=name, params=params)
    session.add(view)
    try:
        session.flush()
    except IntegrityError:  # the unit of work rolls the transaction back
        raise Conflict(f"a view named '{name}' already exists; pick another name or delete that view first")
    return view


def list_views(session: Session) -> list[SavedView]:
    return list(session.scalars(select(SavedView).order_by(SavedView.name)))


def delete_view(session: Session, view_id: int) -> None:
    if session.execute(delete(SavedView).where(SavedView.id == view_id)).rowcount == 0:
        raise NotFound(f"view {view_id} not found")

"""Saved views: named runs-table setups (filters, sort, columns, page size) shared through the API."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from backend.deps import ReadAuth, ReadSessionDep, SessionDep, WriteAuth
from backend.schemas.views import ViewCreate, ViewOut, ViewsPage
from backend.store import views as view_store

router = APIRouter(prefix="/views", tags=["views"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[WriteAuth])
def create_view(body: ViewCreate, session: SessionDep) -> ViewOut:
    """Save a view under a unique name (409 when the name is taken)."""
    return ViewOut.model_validate(
        view_store.create_view(session, body.name, body.params.model_dump(mode="json"))
    )


@router.get("", dependencies=[ReadAuth])
def read_views(session: ReadSessionDep) -> ViewsPage:
    """Every saved view, by name."""
    return ViewsPage(data=[ViewOut.model_validate(v) for v in view_store.list_views(session)])


@router.delete("/{view_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WriteAuth])
def delete_view(view_id: int, session: SessionDep) -> Response:
    """Forget a saved view (404 when there is none with this id)."""
    view_store.delete_view(session, view_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

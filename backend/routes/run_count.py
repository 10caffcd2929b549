"""GET /runs/count: how many runs match the runs list's filters (the table's total, without paging through)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from backend.deps import ReadAuth, ReadSessionDep
from backend.models import Run
from backend.routes.run_query import SearchQuery
from backend.store.run_list import RunFilter, filter_conditions

# Registered before the runs router, so that "count" is not read as a run id.
router = APIRouter(prefix="/runs", tags=["runs"])


class RunCount(BaseModel):
    total: int


@router.get("/count", dependencies=[ReadAuth])
def count_runs(
    session: ReadSessionDep,
    experiment_id: int | None = None,
    run_status: Annotated[list[str], Query(alias="status")] = [],  # noqa: B006 (FastAPI copies defaults)
    task: Annotated[list[str], Query()] = [],  # noqa: B006
    method: Annotated[list[str], Query()] = [],  # noqa: B006
    tag: Annotated[list[str], Query(description="Runs carrying every one of these tags.")] = [],  # noqa: B006
    search: SearchQuery = "",
) -> RunCount:
    """The number of runs GET /runs would page through with the same filters."""
    flt = RunFilter(
        experiment_id=experiment_id, status=run_status, task=task, method=method, tags=tag, search=search
    )
    total = session.scalar(select(func.count()).select_from(Run).where(*filter_conditions(flt)))
    return RunCount(total=total or 0)

"""The paper's analysis views of a grid or an experiment, one route dispatching through the view registry."""

from __future__ import annotations

from typing import Annotated, Union

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from backend.analytics.registry import VIEWS, get_view  # importing backend.analytics registers every view
from backend.analytics.scope import load_scope
from backend.deps import ReadAuth, ReadSessionDep

router = APIRouter(prefix="/analytics", tags=["analytics"])

GridId = Annotated[int | None, Query(description="Analyse the runs of this grid.")]
ExperimentId = Annotated[
    int | None, Query(description="Analyse every run of this experiment (one section per grid).")
]
ViewName = Annotated[
    str,
    Path(description="The view: " + ", ".join(VIEWS) + ".", json_schema_extra={"enum": list(VIEWS)}),
]
# The answer is the chosen view's model; OpenAPI lists each of them.
AnyView = Union[tuple(view.model for view in VIEWS.values())]  # type: ignore[valid-type]  # noqa: UP007

DESCRIPTION = "Pass `grid_id` or `experiment_id` (not both). Views:\n\n" + "\n".join(
    f"- `{view.name}`: {view.description}" for view in VIEWS.values()
)


@router.get("/{view}", dependencies=[ReadAuth], response_model=AnyView, description=DESCRIPTION)
def read_view(
    view: ViewName, session: ReadSessionDep, grid_id: GridId = None, experiment_id: ExperimentId = None
) -> BaseModel:
    """One analysis view of the runs of a grid or an experiment (404 naming the views for an unknown one)."""
    chosen = get_view(view)
    return chosen.compute(load_scope(session, grid_id, experiment_id))

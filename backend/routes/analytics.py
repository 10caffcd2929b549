"""The paper's analysis views of a grid or an experiment: gap, entropy, student size, lineage and cost."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from backend import analytics
from backend.deps import ReadAuth, SessionDep

router = APIRouter(prefix="/analytics", tags=["analytics"])

GridId = Annotated[int | None, Query(description="Analyse the runs of this grid.")]
ExperimentId = Annotated[
    int | None, Query(description="Analyse every run of this experiment (one section per grid).")
]


@router.get("/gap", dependencies=[ReadAuth])
def read_gap(
    session: SessionDep, grid_id: GridId = None, experiment_id: ExperimentId = None
) -> dict[str, Any]:
    """Per student method group: teacher ensemble score, student mean ± std, gap and gap reduction vs KD."""
    return analytics.gap(analytics.load_scope(session, grid_id, experiment_id))


@router.get("/entropy", dependencies=[ReadAuth])
def read_entropy(
    session: SessionDep, grid_id: GridId = None, experiment_id: ExperimentId = None
) -> dict[str, Any]:
    """Ĥ against the primary metric per student group, with swept parameters and each run's own Ĥ."""
    return analytics.entropy(analytics.load_scope(session, grid_id, experiment_id))


@router.get("/student-size", dependencies=[ReadAuth])
def read_student_size(
    session: SessionDep, grid_id: GridId = None, experiment_id: ExperimentId = None
) -> dict[str, Any]:
    """Error ± std against params and MACs per method, precision and width; the ensemble as reference."""
    return analytics.student_size(analytics.load_scope(session, grid_id, experiment_id))


@router.get("/lineage", dependencies=[ReadAuth])
def read_lineage(
    session: SessionDep, grid_id: GridId = None, experiment_id: ExperimentId = None
) -> dict[str, Any]:
    """Runs and their teacher/generator -> student edges; students whose dependency was re-run are stale."""
    return analytics.lineage(session, analytics.load_scope(session, grid_id, experiment_id))


@router.get("/cost", dependencies=[ReadAuth])
def read_cost(
    session: SessionDep, grid_id: GridId = None, experiment_id: ExperimentId = None
) -> dict[str, Any]:
    """CPU/GPU seconds per run and grid; per student group, the gain over ERM per hour of compute."""
    return analytics.cost(analytics.load_scope(session, grid_id, experiment_id))

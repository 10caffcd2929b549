from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import PlainTextResponse, Response

from backend import reports, store
from backend.deps import CeleryDep, ReadAuth, SessionDep, SettingsDep, WriteAuth
from backend.models import Grid, Run
from backend.queueing import enqueue_all
from backend.schemas import GridCellOut, GridCreate, GridOut
from xclab.grids import builtin_grids

router = APIRouter(prefix="/grids", tags=["grids"])


def grid_out(grid: Grid, runs: list[Run]) -> GridOut:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    key = store.primary_metric_key(grid.definition["task"])
    cells = [
        GridCellOut(
            key=run.cell or "",
            role=(run.cell or "").split("/", 1)[0],
            run_id=run.id,
            status=run.status,  # type: ignore[arg-type]
            attempt=run.attempt,
            primary_metric=store.summary(run).get(key or ""),
            error=run.error,
            teachers=[link.teacher_id for link in run.teacher_links],
            generator_run=run.generator_run_id,
        )
        for run in runs
    ]
    return GridOut(
        id=grid.id,
        experiment_id=grid.experiment_id,
        name=grid.name,
        task=grid.definition["task"],
        definition=grid.definition,
        created_at=grid.created_at,
        counts=counts,
        cells=cells,
        done=all(r.status in {"succeeded", "failed", "cancelled"} for r in runs),
    )


def grid_summary(grid: Grid, counts: dict[str, int]) -> GridOut:
    return GridOut(
        id=grid.id,
        experiment_id=grid.experiment_id,
        name=grid.name,
        task=grid.definition["task"],
        definition=grid.definition,
        created_at=grid.created_at,
        counts=counts,
        cells=[],
        done=all(s in {"succeeded", "failed", "cancelled"} for s in counts),
    )


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[WriteAuth])
def create_grid(body: GridCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep) -> GridOut:
    """Expand a grid definition into runs: teachers and generators start at once, students wait for them."""
    grid, ready = store.create_grid(session, body.definition, body.experiment_id, settings.default_queue)
    session.commit()
    enqueue_all(session, celery, ready)
    return grid_out(grid, store.grid_runs(session, grid.id))


@router.get("", dependencies=[ReadAuth])
def read_grids(
    session: SessionDep, experiment_id: int | None = None, cells: bool = True
) -> dict[str, list[GridOut]]:
    """Grids, newest first, with every cell's state; `cells=false` gives only the status counts (fast lists)."""
    grids = store.list_grids(session, experiment_id)
    if cells:
        return {"data": [grid_out(g, store.grid_runs(session, g.id)) for g in grids]}
    counts = store.grid_status_counts(session, [g.id for g in grids])
    return {"data": [grid_summary(g, counts[g.id]) for g in grids]}


@router.get("/builtin", dependencies=[ReadAuth])
def read_builtin_grids() -> dict[str, Any]:
    """The paper's grids shipped with XCL Lab, as YAML text to submit or adapt."""
    return {"data": [{"name": name, "yaml": text} for name, text in sorted(builtin_grids().items())]}


@router.get("/{grid_id}", dependencies=[ReadAuth])
def read_grid(grid_id: int, session: SessionDep) -> GridOut:
    """One grid with every cell's run, status and primary metric."""
    return grid_out(store.get_grid(session, grid_id), store.grid_runs(session, grid_id))


@router.post("/{grid_id}/retry", dependencies=[WriteAuth])
def retry_grid(grid_id: int, session: SessionDep, celery: CeleryDep) -> GridOut:
    """Re-enqueue only the failed or cancelled cells (teachers first; their students wait again)."""
    ready = store.retry_grid(session, grid_id)
    session.commit()
    enqueue_all(session, celery, ready)
    return grid_out(store.get_grid(session, grid_id), store.grid_runs(session, grid_id))


MEDIA = {"markdown": "text/markdown", "latex": "application/x-latex", "csv": "text/csv"}


@router.get("/{grid_id}/report", dependencies=[ReadAuth], response_model=None)
def read_grid_report(
    grid_id: int,
    session: SessionDep,
    format: Annotated[Literal["json", "markdown", "latex", "csv"], Query()] = "json",  # noqa: A002
) -> dict[str, Any] | Response:
    """The paper-style table: mean ± std over seeds, gap to the ensemble, gap reduction vs KD, Ĥ."""
    report = reports.grid_report(store.get_grid(session, grid_id), store.grid_runs(session, grid_id))
    if format == "json":
        return report
    render = {"markdown": reports.to_markdown, "latex": reports.to_latex, "csv": reports.to_csv}[format]
    return PlainTextResponse(render(report), media_type=MEDIA[format])

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import PlainTextResponse, Response

from backend.deps import (
    CeleryDep,
    ReadAuth,
    ReadSessionDep,
    SettingsDep,
    UnitOfWorkDep,
    WriteAuth,
)
from backend.errors import invalid
from backend.models import FINAL_STATUSES, Grid, Run
from backend.queueing import enqueue_released
from backend.reports.grid_report import GridReport, grid_report
from backend.reports.predictions import artifact_predictions
from backend.reports.render import MEDIA_TYPES, RENDERERS
from backend.reports.schema import DEFAULT_BASELINES, SupplementTables
from backend.reports.supplement import LAYOUTS, layout_names, supplement_tables
from backend.reports.supplement import to_markdown as supplement_markdown
from backend.schemas.grids import BuiltinGrid, BuiltinGridsPage, GridCellOut, GridCreate, GridOut, GridsPage
from backend.store import grids as grid_store
from backend.store.runs import primary_metric_key, summary
from backend.vocabulary import KD_REFERENCE_METHOD
from xclab.grids import builtin_grids

router = APIRouter(prefix="/grids", tags=["grids"])


def grid_out(grid: Grid, runs: list[Run]) -> GridOut:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    key = primary_metric_key(grid.definition["task"])
    cells = [
        GridCellOut(
            key=run.cell or "",
            role=(run.cell or "").split("/", 1)[0],  # type: ignore[arg-type]
            run_id=run.id,
            status=run.status,  # type: ignore[arg-type]
            attempt=run.attempt,
            primary_metric=summary(run).get(key or ""),
            error=run.error,
            teachers=[link.teacher_id for link in run.teacher_links],
            generator_run=run.generator_run_id,
        )
        for run in runs
    ]
    return grid_summary(grid, counts).model_copy(
        update={"cells": cells, "done": all(r.status in FINAL_STATUSES for r in runs)}
    )


def grid_summary(grid: Grid, counts: dict[str, int]) -> GridOut:
    """A grid with its status counts but no cells (fast lists)."""
    return GridOut(
        id=grid.id,
        experiment_id=grid.experiment_id,
        name=grid.name,
        task=grid.definition["task"],
        definition=grid.definition,
        created_at=grid.created_at,
        counts=counts,
        cells=[],
        done=all(s in FINAL_STATUSES for s in counts),
    )


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[WriteAuth])
def create_grid(body: GridCreate, uow: UnitOfWorkDep, celery: CeleryDep, settings: SettingsDep) -> GridOut:
    """Expand a grid definition into runs: teachers and generators start at once, students wait for them."""
    session = uow.session
    grid, ready = grid_store.create_grid(
        session, body.definition, body.experiment_id, settings.default_queue, between_batches=uow.checkpoint
    )
    enqueue_released(uow, celery, ready)
    return grid_out(grid, grid_store.grid_runs(session, grid.id))


@router.get("", dependencies=[ReadAuth])
def read_grids(session: ReadSessionDep, experiment_id: int | None = None, cells: bool = True) -> GridsPage:
    """Grids, newest first, with every cell's state; `cells=false` gives only the status counts (fast lists)."""
    grids = grid_store.list_grids(session, experiment_id)
    if cells:
        return GridsPage(data=[grid_out(g, grid_store.grid_runs(session, g.id)) for g in grids])
    counts = grid_store.grid_status_counts(session, [g.id for g in grids])
    return GridsPage(data=[grid_summary(g, counts[g.id]) for g in grids])


@router.get("/builtin", dependencies=[ReadAuth])
def read_builtin_grids() -> BuiltinGridsPage:
    """The paper's grids shipped with XCL Lab, as YAML text to submit or adapt."""
    return BuiltinGridsPage(
        data=[BuiltinGrid(name=n, yaml=text) for n, text in sorted(builtin_grids().items())]
    )


@router.get("/{grid_id}", dependencies=[ReadAuth])
def read_grid(grid_id: int, session: ReadSessionDep) -> GridOut:
    """One grid with every cell's run, status and primary metric."""
    return grid_out(grid_store.get_grid(session, grid_id), grid_store.grid_runs(session, grid_id))


@router.post("/{grid_id}/retry", dependencies=[WriteAuth])
def retry_grid(grid_id: int, uow: UnitOfWorkDep, celery: CeleryDep) -> GridOut:
    """Re-enqueue only the failed or cancelled cells (teachers first; their students wait again)."""
    session = uow.session
    enqueue_released(uow, celery, grid_store.retry_grid(session, grid_id))
    return grid_out(grid_store.get_grid(session, grid_id), grid_store.grid_runs(session, grid_id))


@router.get(
    "/{grid_id}/report",
    dependencies=[ReadAuth],
    response_model=GridReport,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
def read_grid_report(
    grid_id: int,
    session: ReadSessionDep,
    settings: SettingsDep,
    format: Annotated[  # noqa: A002
        Literal["json", "markdown", "latex", "csv", "summary", "supplement"],
        Query(description="'supplement': the grid's rows laid out as the supplement's tables, in Markdown."),
    ] = "json",
    baseline: Annotated[
        list[str] | None,
        Query(
            description="Rows to compare every row with, seed by seed: 'kd' (the KD reference chosen on "
            "validation) or a method label of the grid, e.g. 'erm' or 'kd[temperature=4]'. Default: kd and erm."
        ),
    ] = None,
) -> GridReport | Response:
    """The paper-style table: mean ± std and 95 % CI over seeds, gap to the row's own ensemble, paired
    comparisons with baselines (t-interval, sign test, McNemar), gap reduction vs KD with its interval, Ĥ."""
    grid = grid_store.get_grid(session, grid_id)
    baselines = list(dict.fromkeys(baseline)) if baseline else list(DEFAULT_BASELINES)
    runs = grid_store.grid_runs(session, grid_id)
    loader = artifact_predictions(settings.resolved_artifact_root)
    report = grid_report(grid.id, grid.name, grid.definition["task"], runs, baselines, loader)
    known = {KD_REFERENCE_METHOD, *(row.method for row in report.rows)}
    if unknown := [b for b in baseline or [] if b not in known]:  # the defaults may be absent
        raise invalid(
            ("query", "baseline"),
            f"no row of grid {grid_id} has method {', '.join(map(repr, unknown))}; choose 'kd' or one of: "
            + ", ".join(sorted({row.method for row in report.rows})),
            unknown,
        )
    if format == "json":
        return report
    if format == "supplement":
        tables = _tables(report, runs, None)
        if not tables.tables:
            raise invalid(
                ("query", "format"), tables.note + " Ask /tables?layout=NAME for another name.", format
            )
        return PlainTextResponse(supplement_markdown(tables), media_type="text/markdown")
    return PlainTextResponse(RENDERERS[format](report), media_type=MEDIA_TYPES[format])


def _tables(report: GridReport, runs: list[Run], layout: str | None) -> SupplementTables:
    if layout is not None and layout not in LAYOUTS:
        raise invalid(
            ("query", "layout"), f"unknown layout; choose one of: {', '.join(layout_names())}", layout
        )
    return supplement_tables(report, runs, layout)


@router.get("/{grid_id}/tables", dependencies=[ReadAuth])
def read_grid_tables(
    grid_id: int,
    session: ReadSessionDep,
    layout: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The built-in grid whose supplement layout to use; default: the grid's own name "
            "(a grid submitted as builtin:NAME keeps NAME).",
        ),
    ] = None,
) -> SupplementTables:
    """The grid's report laid out as the supplement's tables (rows and columns as printed there, the paper's
    numbers beside ours, '–' for cells not run); no tables for a grid without a layout."""
    grid = grid_store.get_grid(session, grid_id)
    runs = grid_store.grid_runs(session, grid_id)
    report = grid_report(grid.id, grid.name, grid.definition["task"], runs)  # no McNemar: tables show none
    return _tables(report, runs, layout)

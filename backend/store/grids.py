"""Grids: a definition expanded into runs (teachers and generators first, students waiting for them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from backend.errors import Invalid, NotFound, field_error, pydantic_errors, spec_errors
from backend.models import Grid, Run
from backend.store.experiments import create_experiment, find_experiment, get_experiment
from backend.store.lifecycle import RETRYABLE, retry_run
from backend.store.runs import new_run, placement_issues
from xclab.grids import Cell, GridDefinition, expand
from xclab.spec import MethodSpec, RunSpec, check_spec

BATCH = 250  # cells written per transaction
CELL_KEY_MAX = 300  # the run.cell column


def _cell_specs(definition: GridDefinition) -> tuple[list[tuple[Cell, RunSpec]], list[dict[str, Any]]]:
    """Every cell's spec, checked against the catalog before anything is written (teacher and generator ids are
    placeholders here: they are runs of this grid, made before their dependents)."""
    issues: list[dict[str, Any]] = []
    specs: list[tuple[Cell, RunSpec]] = []
    for cell in expand(definition):
        if len(cell.key) > CELL_KEY_MAX:
            issues.append(
                field_error(
                    ("body", "definition", "cells", cell.key[:100]),
                    f"cell key longer than {CELL_KEY_MAX} characters: use fewer or shorter swept values",
                    len(cell.key),
                )
            )
            continue
        spec_dict = dict(cell.spec)
        spec_dict["teachers"] = list(range(1, len(cell.teachers) + 1))
        if cell.generator:
            spec_dict["method"] = {**spec_dict["method"], "generator_run": 1}
        prefix = ("body", "definition", "cells", cell.key)
        try:
            spec = RunSpec.model_validate(spec_dict)
        except ValidationError as exc:
            issues += pydantic_errors(exc, prefix)
            continue
        problems = check_spec(spec)
        if problems:
            issues += spec_errors(problems, prefix)
            continue
        specs.append((cell, spec))
    return specs, issues


def _grid_run(
    grid: Grid,
    experiment_id: int,
    cell: Cell,
    spec: RunSpec,
    run_ids: dict[str, int],
    queue: str,
    priority: int,
) -> Run:
    teachers = [run_ids[t] for t in cell.teachers]
    method = spec.method
    if cell.generator:
        method = MethodSpec.model_validate({**method.model_dump(), "generator_run": run_ids[cell.generator]})
    spec = spec.model_copy(update={"teachers": teachers, "method": method})
    # Its dependencies are runs of this grid, all new: a cell with any waits for them.
    status = "waiting" if teachers or cell.generator else "queued"
    return new_run(spec, experiment_id, queue, status, priority=priority, grid_id=grid.id, cell=cell.key)


def create_grid(
    session: Session,
    definition: GridDefinition,
    experiment_id: int | None,
    queue: str,
    between_batches: Callable[[], None] = lambda: None,
) -> tuple[Grid, list[Run]]:
    """Expand a grid into runs (dependencies first); returns the grid and the runs ready to enqueue now.

    Every cell is checked before anything is written: one bad cell refuses the grid, naming each bad cell. The
    runs are then written BATCH cells at a time, `between_batches` (the unit of work's checkpoint) running after
    each, so a 2,000-cell grid never holds the database's write lock for long."""
    specs, issues = _cell_specs(definition)
    located = [(("body", "definition", "cells", cell.key), spec) for cell, spec in specs]
    issues += placement_issues(session, located, definition.queue or queue)
    if issues:
        raise Invalid(issues)
    if experiment_id is None:
        name = definition.experiment or definition.name
        experiment = find_experiment(session, name) or create_experiment(
            session, name, definition.description
        )
    else:
        experiment = get_experiment(session, experiment_id)
    grid = Grid(
        experiment_id=experiment.id, name=definition.name, definition=definition.model_dump(mode="json")
    )
    session.add(grid)
    session.flush()
    run_ids: dict[str, int] = {}
    ready: list[Run] = []
    pending: list[tuple[str, Run]] = []

    def flush_pending() -> None:
        session.flush()
        for key, run in pending:
            run_ids[key] = run.id
            if run.status == "queued":
                ready.append(run)
        pending.clear()

    for n, (cell, spec) in enumerate(specs, 1):
        if any(k not in run_ids for k in [*cell.teachers, *([cell.generator] if cell.generator else [])]):
            flush_pending()  # its teachers or generator were added in this batch: they need their ids now
        run = _grid_run(
            grid, experiment.id, cell, spec, run_ids, definition.queue or queue, definition.priority
        )
        pending.append((cell.key, run))
        session.add(pending[-1][1])
        if n % BATCH == 0:
            flush_pending()
            between_batches()
    flush_pending()
    return grid, ready


def get_grid(session: Session, grid_id: int) -> Grid:
    grid = session.get(Grid, grid_id)
    if grid is None:
        raise NotFound(f"grid {grid_id} not found")
    return grid


def list_grids(session: Session, experiment_id: int | None) -> list[Grid]:
    """Grids, newest first."""
    stmt = select(Grid).order_by(Grid.id.desc())
    if experiment_id is not None:
        stmt = stmt.where(Grid.experiment_id == experiment_id)
    return list(session.scalars(stmt))


def grid_status_counts(session: Session, grid_ids: list[int]) -> dict[int, dict[str, int]]:
    """Runs per status for each grid, in one grouped query (grid lists need no cells)."""
    counts: dict[int, dict[str, int]] = {g: {} for g in grid_ids}
    rows = session.execute(
        select(Run.grid_id, Run.status, func.count())
        .where(Run.grid_id.in_(grid_ids))
        .group_by(Run.grid_id, Run.status)
    )
    for grid_id, status, n in rows:
        counts[grid_id][status] = n
    return counts


def grid_runs(session: Session, grid_id: int) -> list[Run]:
    """A grid's runs in id order, which is dependency order."""
    return list(
        session.scalars(
            select(Run)
            .where(Run.grid_id == grid_id)
            .order_by(Run.id)
            .options(selectinload(Run.latest_metrics), selectinload(Run.teacher_links))
        )
    )


def retry_grid(session: Session, grid_id: int) -> list[Run]:
    """Re-enqueue every failed or cancelled cell, dependencies first; returns the runs ready to enqueue."""
    get_grid(session, grid_id)
    ready = []
    for run in grid_runs(session, grid_id):
        if run.status in RETRYABLE:
            retried = retry_run(session, run.id)
            session.flush()
            if retried.status == "queued":
                ready.append(retried)
    return ready

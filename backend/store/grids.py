"""Grids: a definition expanded into runs (teachers and generators first, students waiting for them)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from backend.errors import Invalid, NotFound, pydantic_errors, spec_errors
from backend.models import Grid, Run
from backend.store.experiments import create_experiment, find_experiment, get_experiment
from backend.store.lifecycle import RETRYABLE, retry_run
from backend.store.runs import create_run
from xclab.grids import GridDefinition, expand
from xclab.spec import RunSpec, check_spec


def create_grid(
    session: Session, definition: GridDefinition, experiment_id: int | None, queue: str
) -> tuple[Grid, list[Run]]:
    """Expand a grid into runs (dependencies first); returns the grid and the runs ready to enqueue now.

    Every cell is checked before anything is kept: one bad cell refuses the grid, naming each bad cell."""
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
    issues: list[dict[str, Any]] = []
    run_ids: dict[str, int] = {}
    created: list[Run] = []
    for cell in expand(definition):
        spec_dict = dict(cell.spec)
        spec_dict["teachers"] = [run_ids[t] for t in cell.teachers if t in run_ids]
        if cell.generator and cell.generator in run_ids:
            spec_dict["method"] = {**spec_dict["method"], "generator_run": run_ids[cell.generator]}
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
        run = create_run(
            session,
            experiment.id,
            spec,
            definition.queue or queue,
            grid_id=grid.id,
            cell=cell.key,
            priority=definition.priority,
        )
        run_ids[cell.key] = run.id
        created.append(run)
    if issues:
        raise Invalid(issues)  # the unit of work rolls back the grid and the cells created so far
    return grid, [r for r in created if r.status == "queued"]


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

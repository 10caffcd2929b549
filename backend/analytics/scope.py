"""The runs a view analyses: one grid, or one experiment (one section per grid, plus one per task for the runs
submitted outside any grid).

Student groups are those of `backend.reports` (the cell key without its seed), and each section carries its grid
report, so the views and the paper-style report always agree. Runs outside grids get a synthetic cell so the same
grouping applies: a run another run names as a teacher is a teacher, a run of a generator-training method a
generator, any other run a student labelled by its method (with the parameters that differ from the catalog's
defaults) and its model.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.analytics.labels import method_label, model_label
from backend.errors import Invalid, field_error, invalid
from backend.models import Grid, Run
from backend.reports.grid_report import GridReport, grid_report, group_students
from backend.store.experiments import get_experiment
from backend.store.grids import get_grid, grid_runs, list_grids
from backend.vocabulary import trains_generator
from xclab.catalog import TASKS


class ScopeOut(BaseModel):
    kind: Literal["grid", "experiment"]
    id: int
    name: str


class SectionHeader(BaseModel):
    """What every per-section answer starts with."""

    grid_id: int | None
    grid: str
    task: str
    metric: str
    goal: Literal["max", "min"]
    ensemble_score: float | None


@dataclass
class _Cell:
    """A run seen through a synthetic cell key (runs outside grids); everything else reads through to the run."""

    run: Run
    cell: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.run, name)


@dataclass
class Section:
    """One grid, or the runs of one task outside any grid, with its report and its student groups."""

    grid_id: int | None
    name: str
    task: str
    runs: list[Any]  # Run, or _Cell for runs outside grids
    report: GridReport
    groups: dict[str, list[Run]]

    def header(self) -> dict[str, Any]:
        """The SectionHeader fields of this section."""
        report = self.report
        return {
            "grid_id": self.grid_id,
            "grid": self.name,
            "task": self.task,
            "metric": report.metric,
            "goal": report.goal,
            "ensemble_score": report.ensemble_score,
        }


@dataclass
class Scope:
    kind: Literal["grid", "experiment"]
    id: int
    name: str
    runs: list[Run]
    grids: dict[int, Grid]
    session: Session  # for views that read beyond the scope (lineage's external dependencies)
    sections: list[Section] = field(default_factory=list)
    cells: dict[int, str] = field(default_factory=dict)  # run id -> cell key (real or synthetic)

    def describe(self) -> ScopeOut:
        return ScopeOut(kind=self.kind, id=self.id, name=self.name)


def load_scope(session: Session, grid_id: int | None, experiment_id: int | None) -> Scope:
    """The runs (with summaries and teacher links, loaded in bulk) of a grid or an experiment."""
    if grid_id is not None and experiment_id is not None:
        raise invalid(("query", "experiment_id"), "pass grid_id or experiment_id, not both", experiment_id)
    if grid_id is not None:
        grid = get_grid(session, grid_id)
        scope = Scope("grid", grid.id, grid.name, grid_runs(session, grid.id), {grid.id: grid}, session)
    elif experiment_id is not None:
        experiment = get_experiment(session, experiment_id)
        runs = session.scalars(
            select(Run)
            .where(Run.experiment_id == experiment.id)
            .order_by(Run.id)
            .options(selectinload(Run.latest_metrics), selectinload(Run.teacher_links))
        )
        grids = {g.id: g for g in sorted(list_grids(session, experiment.id), key=lambda g: g.id)}
        scope = Scope("experiment", experiment.id, experiment.name, list(runs), grids, session)
    else:
        msg = "pass grid_id or experiment_id to choose the runs to analyse"
        raise Invalid(
            [field_error(("query", name), msg, type="missing") for name in ("grid_id", "experiment_id")]
        )
    _build_sections(scope)
    return scope


def _build_sections(scope: Scope) -> None:
    by_grid: dict[int, list[Run]] = defaultdict(list)
    loose: dict[str, list[Run]] = defaultdict(list)
    for run in scope.runs:
        if run.grid_id in scope.grids:
            by_grid[run.grid_id].append(run)
        else:
            loose[run.task].append(run)
    for grid_id, grid in scope.grids.items():
        runs = by_grid.get(grid_id, [])
        scope.cells.update({r.id: r.cell or "" for r in runs})
        scope.sections.append(_section(grid_id, grid.name, grid.definition["task"], runs))
    for task, runs in loose.items():
        if task not in TASKS:
            continue
        cells = _synthetic_cells(runs)
        scope.cells.update({c.run.id: c.cell for c in cells})
        scope.sections.append(_section(None, f"{scope.name}: {task} runs outside grids", task, cells))


def _section(grid_id: int | None, name: str, task: str, runs: list[Any]) -> Section:
    report = grid_report(grid_id, name, task, runs)
    groups = {  # the grouping of grid_report, in the same order as its rows
        group: [run.run if isinstance(run, _Cell) else run for run in members]
        for group, members in group_students(runs).items()
    }
    return Section(grid_id, name, task, runs, report, groups)


def _synthetic_cells(runs: list[Run]) -> list[_Cell]:
    ensembles: dict[int, str] = {}
    for run in runs:
        ids = [link.teacher_id for link in run.teacher_links]
        for teacher_id in ids:
            ensembles.setdefault(teacher_id, "runs-" + "+".join(str(i) for i in ids))
    cells = []
    for run in runs:
        if trains_generator(run.method):
            cell = f"generator/run-{run.id}"
        elif run.id in ensembles:
            cell = f"teacher/{ensembles[run.id]}/{run.id}"
        else:
            cell = f"student/{method_label(run)}/{model_label(run)}/seed={run.spec.get('seed', 0)}"
        cells.append(_Cell(run, cell))
    return cells

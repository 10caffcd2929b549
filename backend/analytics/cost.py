"""Cost: CPU/GPU seconds per run and per grid, and per student group the metric gained over the baseline method
of the same model per hour of one run of that group."""

from __future__ import annotations

import statistics
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backend.analytics.common import rows_by_group, succeeded
from backend.analytics.labels import model_label
from backend.analytics.registry import register_view
from backend.analytics.scope import Scope, ScopeOut, Section
from backend.models import Run, utcnow
from backend.reports.grid_report import ReportRow
from backend.store.runs import summary
from backend.vocabulary import BASELINE_METHOD

NOTE = (
    "Seconds: the run's wall_time_s metric, else finished_at - started_at, of its last attempt; GPU when "
    "the run's queue (or hparams.device) is a GPU one. gain = mean - ERM mean of the same model (ERM mean "
    "- mean for error metrics); charged_hours_per_run adds to the mean hours of one succeeded run its share of "
    "the teachers and generator it needs (each one's time split evenly among the runs here that use it); "
    "gain_per_hour divides the gain by that, and is left empty under one minute (a rate over noise)."
)
MIN_HOURS = 1 / 60


class RunCost(BaseModel):
    run_id: int
    grid_id: int | None
    cell: str | None
    method: str
    model: str
    status: str
    attempt: int
    queue: str
    device: str
    seconds: float | None
    source: str | None
    cpu_seconds: float
    gpu_seconds: float
    running_for_s: float | None


class CostTotal(BaseModel):
    runs: int
    cpu_seconds: float
    gpu_seconds: float
    cpu_hours: float
    gpu_hours: float


class GridCost(BaseModel):
    grid_id: int | None
    grid: str
    runs: int
    cpu_seconds: float
    gpu_seconds: float
    cpu_hours: float
    gpu_hours: float


class MethodCost(BaseModel):
    grid_id: int | None
    grid: str
    group: str
    method: str
    model: str
    metric: str
    goal: str
    device: str
    unit: str
    n: int
    mean: float | None
    erm_mean: float | None
    gain: float | None
    hours_per_run: float | None
    dependency_hours_per_run: float | None
    charged_hours_per_run: float | None
    total_hours: float | None
    gain_per_hour: float | None


class CostView(BaseModel):
    scope: ScopeOut
    runs: list[RunCost]
    grids: list[GridCost]
    total: CostTotal
    methods: list[MethodCost]
    note: str


def device(run: Run) -> str:
    """gpu or cpu: hparams.device when a run names one, else the queue it was sent to."""
    named = str((run.hparams or {}).get("device") or "").lower()
    if named:
        return "gpu" if named.startswith(("cuda", "gpu")) else "cpu"
    return "gpu" if "gpu" in (run.queue or "").lower() else "cpu"


def run_seconds(run: Run) -> tuple[float | None, str | None]:
    """Compute time of the run's last attempt: its wall_time_s metric, else finished_at - started_at."""
    wall = summary(run).get("wall_time_s")
    if wall is not None:
        return float(wall), "wall_time_s"
    if run.started_at is not None and run.finished_at is not None:
        return max(0.0, (run.finished_at - run.started_at).total_seconds()), "timestamps"
    return None, None


def _hours(seconds: float) -> float:
    return seconds / 3600.0


def _run_cost(scope: Scope, run: Run, now: datetime) -> RunCost:
    secs, source = run_seconds(run)
    dev = device(run)
    return RunCost(
        run_id=run.id,
        grid_id=run.grid_id,
        cell=scope.cells.get(run.id) or run.cell,
        method=run.method,
        model=model_label(run),
        status=run.status,
        attempt=run.attempt,
        queue=run.queue,
        device=dev,
        seconds=secs,
        source=source,
        cpu_seconds=secs if secs is not None and dev == "cpu" else 0.0,
        gpu_seconds=secs if secs is not None and dev == "gpu" else 0.0,
        running_for_s=(now - run.started_at).total_seconds()
        if run.status == "running" and run.started_at
        else None,
    )


def _totals(rows: list[RunCost]) -> dict[str, float]:
    cpu = sum(r.cpu_seconds for r in rows)
    gpu = sum(r.gpu_seconds for r in rows)
    return {"cpu_seconds": cpu, "gpu_seconds": gpu, "cpu_hours": _hours(cpu), "gpu_hours": _hours(gpu)}


@register_view("cost", CostView)
def cost(scope: Scope, now: datetime | None = None) -> CostView:
    """CPU/GPU seconds per run and grid; per student group, the gain over ERM per hour of compute."""
    now = now or utcnow()
    per_run = [_run_cost(scope, run, now) for run in scope.runs]
    seconds = {r.run_id: r.seconds for r in per_run if r.seconds is not None}
    shares = dependency_seconds(scope, seconds)
    grids = []
    for section in scope.sections:
        ids = {r.id for r in section.runs}
        rows = [r for r in per_run if r.run_id in ids]
        grids.append(GridCost(grid_id=section.grid_id, grid=section.name, runs=len(rows), **_totals(rows)))
    methods = [
        _method_cost(section, group, members, seconds, shares)
        for section in scope.sections
        for group, members in section.groups.items()
    ]
    return CostView(
        scope=scope.describe(),
        runs=per_run,
        grids=grids,
        total=CostTotal(runs=len(per_run), **_totals(per_run)),
        methods=methods,
        note=NOTE,
    )


def dependency_seconds(scope: Scope, seconds: dict[int, float]) -> dict[int, float]:
    """Per run here, its share of the compute of the teachers and generator it needs: each dependency's seconds
    split evenly among the runs here that use it (one level: a teacher's own teachers are not followed)."""
    needs = {
        run.id: {link.teacher_id for link in run.teacher_links} | ({run.generator_run_id} - {None})
        for run in scope.runs
    }
    users: dict[int, int] = {}
    for deps in needs.values():
        for dep in deps:
            users[dep] = users.get(dep, 0) + 1
    known = dict(seconds)
    outside = [dep for dep in users if dep not in known]
    if outside:  # dependencies in other experiments or grids: one query, whatever their number
        query = select(Run).where(Run.id.in_(outside)).options(selectinload(Run.latest_metrics))
        for run in scope.session.scalars(query):
            secs, _ = run_seconds(run)
            if secs is not None:
                known[run.id] = secs
    return {run_id: sum(known.get(dep, 0.0) / users[dep] for dep in deps) for run_id, deps in needs.items()}


def _baseline(section: Section, row: ReportRow) -> ReportRow | None:
    """The baseline method's row of the same student model."""
    return next(
        (r for r in section.report.rows if r.method == BASELINE_METHOD and r.model == row.model),
        None,
    )


def _method_cost(
    section: Section, group: str, members: list[Run], seconds: dict[int, float], shares: dict[int, float]
) -> MethodCost:
    report = section.report
    row = rows_by_group(section)[group]
    baseline = _baseline(section, row)
    finished = [r for r in succeeded(members) if r.id in seconds]
    done = [seconds[r.id] for r in finished]
    deps = _hours(statistics.fmean(shares.get(r.id, 0.0) for r in finished)) if finished else None
    devices = [device(r) for r in members]
    dev = max(set(devices), key=devices.count)
    hours = _hours(statistics.fmean(done)) if done else None
    charged = None if hours is None or deps is None else hours + deps
    gain = None
    if row.mean is not None and baseline is not None and baseline.mean is not None:
        gain = row.mean - baseline.mean if report.goal == "max" else baseline.mean - row.mean
    return MethodCost(
        grid_id=section.grid_id,
        grid=section.name,
        group=group,
        method=row.method,
        model=row.model,
        metric=report.metric,
        goal=report.goal,
        device=dev,
        unit=f"{dev}-hour",
        n=row.n,
        mean=row.mean,
        erm_mean=None if baseline is None else baseline.mean,
        gain=gain,
        hours_per_run=hours,
        dependency_hours_per_run=deps,
        charged_hours_per_run=charged,
        total_hours=_hours(sum(done)) if done else None,
        gain_per_hour=gain / charged
        if gain is not None and charged is not None and charged >= MIN_HOURS
        else None,
    )

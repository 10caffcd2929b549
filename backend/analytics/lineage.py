"""Lineage: runs as nodes, teacher -> student and generator -> student edges, and the students whose result no
longer matches a dependency's current outputs (stale)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backend.analytics.labels import model_label
from backend.analytics.registry import register_view
from backend.analytics.scope import Scope, ScopeOut
from backend.models import FINAL_STATUSES, Run
from backend.store.runs import dependency_ids, primary_metric_key, summary
from backend.vocabulary import trains_generator

# Dependencies outside the scope need only their own row (no metrics are shown for them).
_NODE_LOAD = (selectinload(Run.teacher_links),)

EdgeKind = Literal["teacher", "generator"]


class LineageNode(BaseModel):
    id: int
    cell: str | None
    role: str
    grid_id: int | None
    experiment_id: int
    method: str
    model: str
    status: str
    attempt: int
    metric: str | None
    value: float | None
    started_at: datetime | None
    finished_at: datetime | None
    external: bool
    stale: bool
    stale_reasons: list[str]


class LineageEdge(BaseModel):
    source: int
    target: int
    kind: EdgeKind
    stale: bool


class LineageView(BaseModel):
    scope: ScopeOut
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    stale: list[int]


@register_view("lineage", LineageView)
def lineage(scope: Scope) -> LineageView:
    """Runs and their teacher/generator -> student edges; students whose dependency was re-run are stale.

    A student is stale when one of its teachers (or its generator) finished after the student started, or is
    being re-run (attempt > 1, unfinished) since."""
    runs = {r.id: r for r in scope.runs}
    wanted = {d for r in scope.runs for d in dependency_ids(r)} - set(runs)
    external = (
        {r.id: r for r in scope.session.scalars(select(Run).where(Run.id.in_(wanted)).options(*_NODE_LOAD))}
        if wanted
        else {}
    )
    everything = {**runs, **external}
    nodes: dict[int, LineageNode] = {}
    for run in [*runs.values(), *external.values()]:
        key = primary_metric_key(run.task)
        cell = scope.cells.get(run.id) or run.cell or ""
        nodes[run.id] = LineageNode(
            id=run.id,
            cell=run.cell,
            role=cell.split("/", 1)[0] if cell else _role(run),
            grid_id=run.grid_id,
            experiment_id=run.experiment_id,
            method=run.method,
            model=model_label(run),
            status=run.status,
            attempt=run.attempt,
            metric=key,
            value=summary(run).get(key or "") if run.id in runs else None,
            started_at=run.started_at,
            finished_at=run.finished_at,
            external=run.id in external,
            stale=False,
            stale_reasons=[],
        )
    edges = []
    for run in runs.values():
        deps: list[tuple[int, EdgeKind]] = [(link.teacher_id, "teacher") for link in run.teacher_links]
        if run.generator_run_id:
            deps.append((run.generator_run_id, "generator"))
        for dep_id, kind in deps:
            reason = _staleness(run, everything.get(dep_id), kind)
            edges.append(LineageEdge(source=dep_id, target=run.id, kind=kind, stale=reason is not None))
            if reason:
                nodes[run.id].stale = True
                nodes[run.id].stale_reasons.append(reason)
    return LineageView(
        scope=scope.describe(),
        nodes=list(nodes.values()),
        edges=edges,
        stale=sorted(i for i, n in nodes.items() if n.stale),
    )


def _role(run: Run) -> str:
    if trains_generator(run.method):
        return "generator"
    return "student" if run.teacher_links else "run"


def _staleness(student: Run, dep: Run | None, kind: str) -> str | None:
    if dep is None or student.started_at is None:
        return None
    if dep.finished_at is not None and dep.finished_at > student.started_at:
        return (
            f"{kind} run {dep.id} (attempt {dep.attempt}) finished at {dep.finished_at.isoformat()}, after this run "
            f"started at {student.started_at.isoformat()}"
        )
    if dep.attempt > 1 and dep.status not in FINAL_STATUSES:
        return f"{kind} run {dep.id} is being re-run (attempt {dep.attempt}, {dep.status}) since this run started"
    return None

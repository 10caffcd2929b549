"""Runs: create (checked against the catalog and their teachers and generator), read, annotate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.errors import Invalid, NotFound, field_error, spec_errors
from backend.models import Run, RunTag, RunTeacher
from backend.store.experiments import get_experiment
from backend.store.run_params import ParamValue, attach_params
from backend.store.workers import placement_problem
from backend.vocabulary import generator_methods, trains_generator
from xclab.catalog import TASKS
from xclab.spec import RunSpec, SpecIssue, check_spec, resolve_hparams

SPEC_LOC = ("body", "spec")
# What run lists and comparisons show of each run, loaded in bulk.
RUN_LOADS = (
    selectinload(Run.latest_metrics),
    selectinload(Run.teacher_links),
    selectinload(Run.tag_rows),
    selectinload(Run.param_rows),
)


def _spec_error(issues: Sequence[SpecIssue]) -> Invalid:
    return Invalid(spec_errors(issues, SPEC_LOC))


def create_run(
    session: Session,
    experiment_id: int,
    spec: RunSpec,
    queue: str,
    *,
    grid_id: int | None = None,
    cell: str | None = None,
    priority: int = 0,
    name: str | None = None,
    params: Mapping[str, ParamValue] | None = None,
) -> Run:
    """Store a new run: `queued` when it can start now, `waiting` while a teacher or generator is unfinished."""
    issues = check_spec(spec)
    if issues:
        raise _spec_error(issues)
    get_experiment(session, experiment_id)
    problems = placement_issues(session, [(SPEC_LOC, spec)], queue)
    if problems:
        raise Invalid(problems)
    teachers = check_teachers(session, spec)
    generator = check_generator(session, spec)
    deps = [*teachers, *([generator] if generator else [])]
    status = "queued" if all(d.status == "succeeded" for d in deps) else "waiting"
    run = new_run(
        spec, experiment_id, queue, status, priority=priority, grid_id=grid_id, cell=cell, name=name
    )
    return _stored(session, run, params)


def new_run(
    spec: RunSpec,
    experiment_id: int,
    queue: str,
    status: str,
    *,
    priority: int = 0,
    grid_id: int | None = None,
    cell: str | None = None,
    name: str | None = None,
) -> Run:
    """The row of a checked spec, routed to its queue: the one constructor single runs and grid cells share, so
    routing and priority are wired in one place."""
    run = Run(
        grid_id=grid_id,
        cell=cell,
        generator_run_id=spec.method.params.get("generator_run"),
        experiment_id=experiment_id,
        spec=spec.model_dump(mode="json"),
        hparams=resolve_hparams(spec),
        task=spec.task,
        method=spec.method.name,
        model=spec.model.name,
        status=status,
        queue=gpu_queue(spec, queue),
        priority=priority,
        name=name,
        params_json={},  # a grid cell has none; `create_run` attaches a single run's
    )
    run.teacher_links = [RunTeacher(teacher_id=t, position=i) for i, t in enumerate(spec.teachers)]
    return run


def placement_issues(
    session: Session, located: Sequence[tuple[Sequence[str], RunSpec]], queue: str
) -> list[dict[str, Any]]:
    """One 422 entry per distinct GPU request no known worker can hold, located where its spec sits in the
    request (a grid asks once per distinct request, not once per cell)."""
    issues: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for loc, spec in located:
        r = spec.resources
        key = (gpu_queue(spec, queue), r.gpus, r.gpu_kind, r.min_gpu_memory_mb)
        if key in seen:
            continue
        seen.add(key)
        problem = placement_problem(session, *key)
        if problem:
            issues.append(field_error([*loc, "resources", "gpus"], problem, r.gpus))
    return issues


def _stored(session: Session, run: Run, params: Mapping[str, ParamValue] | None) -> Run:
    # A new run's collections start empty and loaded, so answering with it needs no further query.
    attach_params(run, params or {})
    run.artifacts, run.latest_metrics, run.tag_rows = [], [], []
    session.add(run)
    session.flush()
    return run


def gpu_queue(spec: RunSpec, queue: str) -> str:
    """A GPU run never waits on the CPU queue: it moves to the 'gpu' queue unless it named another one."""
    return "gpu" if spec.resources.gpus > 0 and queue == "cpu" else queue


def check_teachers(session: Session, spec: RunSpec) -> list[Run]:
    """The spec's teacher runs, in order; each must exist, fit the task, be no generator and not have failed."""
    if not spec.teachers:
        return []
    found = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(spec.teachers)))}
    issues = []
    for i, teacher_id in enumerate(spec.teachers):
        teacher = found.get(teacher_id)
        problem = None
        if teacher is None:
            problem = f"teacher run {teacher_id} does not exist"
        elif teacher.task != spec.task:
            problem = f"teacher run {teacher_id} was trained on task '{teacher.task}', not '{spec.task}'"
        elif trains_generator(teacher.method):
            problem = f"run {teacher_id} is a generator, not a teacher"
        elif teacher.status in {"failed", "cancelled"}:
            problem = f"teacher run {teacher_id} is {teacher.status}; retry it or pick a succeeded run"
        if problem:
            issues.append(SpecIssue(("teachers", i), problem, teacher_id))
    if issues:
        raise _spec_error(issues)
    return [found[t] for t in spec.teachers]


def check_generator(session: Session, spec: RunSpec) -> Run | None:
    """The spec's generator run, if it names one: an existing, unfailed generator run of the same task."""
    generator_id = spec.method.params.get("generator_run")
    if generator_id is None:
        return None
    generator = session.get(Run, generator_id)
    problem = None
    if generator is None:
        problem = f"generator run {generator_id} does not exist"
    elif not trains_generator(generator.method):
        methods = " or ".join(f"'{m}'" for m in generator_methods())
        problem = f"run {generator_id} is a '{generator.method}' run, not a generator (method {methods}) run"
    elif generator.task != spec.task:
        problem = f"generator run {generator_id} was trained on task '{generator.task}', not '{spec.task}'"
    elif generator.status in {"failed", "cancelled"}:
        problem = f"generator run {generator_id} is {generator.status}; retry it or pick a succeeded one"
    if problem:
        raise _spec_error([SpecIssue(("method", "generator_run"), problem, generator_id)])
    return generator


def require_run(session: Session, run_id: int) -> None:
    """A cheap existence check for hot paths (metric writes and reads), without loading relationships."""
    if session.scalar(select(Run.id).where(Run.id == run_id)) is None:
        raise NotFound(f"run {run_id} not found")


def get_run(session: Session, run_id: int, *, lock: bool = False) -> Run:
    """One run with its teachers, artifacts, latest metrics and tags; `lock` holds its row until the commit."""
    stmt = (
        select(Run)
        .where(Run.id == run_id)
        .options(
            selectinload(Run.teacher_links),
            selectinload(Run.artifacts),
            selectinload(Run.latest_metrics),
            selectinload(Run.tag_rows),
            selectinload(Run.param_rows),
        )
    )
    if lock:
        stmt = stmt.with_for_update()
    run = session.scalars(stmt).first()
    if run is None:
        raise NotFound(f"run {run_id} not found")
    return run


def annotate_run(session: Session, run_id: int, tags: Sequence[str] | None, notes: str | None) -> Run:
    """Replace a run's tags (already validated and normalised) and/or its notes; None leaves one as is."""
    run = get_run(session, run_id, lock=True)
    if tags is not None:
        wanted = list(dict.fromkeys(tags))
        kept = [row for row in run.tag_rows if row.tag in wanted]
        have = {row.tag for row in kept}
        run.tag_rows = sorted(kept + [RunTag(tag=t) for t in wanted if t not in have], key=lambda r: r.tag)
    if notes is not None:
        run.notes = notes
    session.flush()
    return run


def run_tags(run: Run) -> list[str]:
    return [row.tag for row in run.tag_rows]


def summary(run: Run) -> dict[str, float]:
    """The run's latest value of each metric."""
    return {m.key: m.value for m in run.latest_metrics}


def primary_metric_key(task: str) -> str | None:
    info = TASKS.get(task)
    return info.primary_metric.key if info else None


def dependency_ids(run: Run) -> list[int]:
    """The runs this one waits for: its teachers, then its generator."""
    return [link.teacher_id for link in run.teacher_links] + (
        [run.generator_run_id] if run.generator_run_id else []
    )

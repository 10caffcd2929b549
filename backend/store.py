"""Everything the API does to the database, as plain functions over a Session."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from backend.errors import Conflict, Invalid, NotFound
from backend.models import (
    FINAL_STATUSES,
    Artifact,
    Experiment,
    Grid,
    LatestMetric,
    Metric,
    Run,
    RunTag,
    RunTeacher,
    SavedView,
    utcnow,
)
from xclab.catalog import TASKS
from xclab.grids import GridDefinition, expand
from xclab.spec import RunSpec, SpecIssue, check_spec, resolve_hparams

# ---------------------------------------------------------------- experiments


def create_experiment(session: Session, name: str, description: str) -> Experiment:
    experiment = Experiment(name=name, description=description)
    session.add(experiment)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"an experiment named '{name}' already exists; pick another name or use its id")
    return experiment


def get_experiment(session: Session, experiment_id: int) -> Experiment:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise NotFound(f"experiment {experiment_id} not found")
    return experiment


def list_experiments(session: Session) -> list[tuple[Experiment, int]]:
    counts = select(Run.experiment_id, func.count().label("n")).group_by(Run.experiment_id).subquery()
    rows = session.execute(
        select(Experiment, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.experiment_id == Experiment.id)
        .order_by(Experiment.id.desc())
    )
    return [(e, n) for e, n in rows]


# ---------------------------------------------------------------- runs


def _spec_error(issues: Sequence[SpecIssue]) -> Invalid:
    return Invalid([issue.as_error(("body", "spec")) for issue in issues])


def create_run(
    session: Session,
    experiment_id: int,
    spec: RunSpec,
    queue: str,
    *,
    grid_id: int | None = None,
    cell: str | None = None,
) -> Run:
    """Store a new run: `queued` when it can start now, `waiting` while a teacher or generator is unfinished."""
    issues = check_spec(spec)
    if issues:
        raise _spec_error(issues)
    get_experiment(session, experiment_id)
    teachers = _check_teachers(session, spec)
    generator = _check_generator(session, spec)
    deps = [*teachers, *([generator] if generator else [])]
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
        status="queued" if all(d.status == "succeeded" for d in deps) else "waiting",
        queue=queue,
    )
    run.teacher_links = [RunTeacher(teacher_id=t, position=i) for i, t in enumerate(spec.teachers)]
    session.add(run)
    session.flush()
    return run


def _check_teachers(session: Session, spec: RunSpec) -> list[Run]:
    if not spec.teachers:
        return []
    found = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(spec.teachers)))}
    issues = []
    for i, teacher_id in enumerate(spec.teachers):
        teacher = found.get(teacher_id)
        if teacher is None:
            issues.append(SpecIssue(("teachers", i), f"teacher run {teacher_id} does not exist", teacher_id))
        elif teacher.task != spec.task:
            issues.append(
                SpecIssue(
                    ("teachers", i),
                    f"teacher run {teacher_id} was trained on task '{teacher.task}', not '{spec.task}'",
                    teacher_id,
                )
            )
        elif teacher.method == "gan":
            issues.append(
                SpecIssue(("teachers", i), f"run {teacher_id} is a generator, not a teacher", teacher_id)
            )
        elif teacher.status in {"failed", "cancelled"}:
            issues.append(
                SpecIssue(
                    ("teachers", i),
                    f"teacher run {teacher_id} is {teacher.status}; retry it or pick a succeeded run",
                    teacher_id,
                )
            )
    if issues:
        raise _spec_error(issues)
    return [found[t] for t in spec.teachers]


def _check_generator(session: Session, spec: RunSpec) -> Run | None:
    generator_id = spec.method.params.get("generator_run")
    if generator_id is None:
        return None
    generator = session.get(Run, generator_id)
    problem = None
    if generator is None:
        problem = f"generator run {generator_id} does not exist"
    elif generator.method != "gan":
        problem = f"run {generator_id} is a '{generator.method}' run, not a generator (method 'gan') run"
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
    stmt = (
        select(Run)
        .where(Run.id == run_id)
        .options(
            selectinload(Run.teacher_links),
            selectinload(Run.artifacts),
            selectinload(Run.latest_metrics),
            selectinload(Run.tag_rows),
        )
    )
    if lock:
        stmt = stmt.with_for_update()
    run = session.scalars(stmt).first()
    if run is None:
        raise NotFound(f"run {run_id} not found")
    return run


SORTABLE = {
    "id": Run.id,
    "created_at": Run.created_at,
    "status": Run.status,
    "task": Run.task,
    "method": Run.method,
    "model": Run.model,
}
METRIC_SORT = "metric:"
METRIC_KEY = re.compile(r"[A-Za-z0-9_.\-/]{1,250}")  # what MetricIn accepts


@dataclass
class RunFilter:
    experiment_id: int | None = None
    status: Sequence[str] = ()
    task: Sequence[str] = ()
    method: Sequence[str] = ()
    tags: Sequence[str] = ()  # a run must carry every one of them


def normalise_tag(tag: str) -> str:
    """Tags compare case-insensitively and without surrounding blanks: stored and matched in this form."""
    return tag.strip().lower()


def _filter_conditions(flt: RunFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if flt.experiment_id is not None:
        conditions.append(Run.experiment_id == flt.experiment_id)
    if flt.status:
        conditions.append(Run.status.in_(flt.status))
    if flt.task:
        conditions.append(Run.task.in_(flt.task))
    if flt.method:
        conditions.append(Run.method.in_(flt.method))
    # One semi-join per tag, each answered from the (tag, run_id) index.
    for tag in dict.fromkeys(normalise_tag(t) for t in flt.tags if t.strip()):
        conditions.append(Run.id.in_(select(RunTag.run_id).where(RunTag.tag == tag)))
    return conditions


def _query_error(name: str, msg: str, value: Any) -> Invalid:
    return Invalid([{"type": "value_error", "loc": ["query", name], "msg": msg, "input": value}])


def _parse_sort(sort: str) -> tuple[bool, str, str | None]:
    """(descending, sort name, metric key or None) of `col`, `-col`, `metric:<key>` or `-metric:<key>`."""
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    if name.startswith(METRIC_SORT) and METRIC_KEY.fullmatch(name[len(METRIC_SORT) :]):
        return descending, name, name[len(METRIC_SORT) :]
    if name not in SORTABLE:
        allowed = ", ".join(f"{c}, -{c}" for c in SORTABLE)
        raise _query_error(
            "sort", f"cannot sort by '{sort}'; allowed: {allowed}, metric:<key>, -metric:<key>", sort
        )
    return descending, name, None


def _encode_token(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def _decode_token(token: str, name: str) -> tuple[Any, int]:
    """The (sort value, id) a page ended at, checked against the sort it is used with."""
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
        assert isinstance(values, list) and len(values) == 2
        value, last_id = values
        assert isinstance(last_id, int) and not isinstance(last_id, bool)
        if name.startswith(METRIC_SORT):
            assert value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        elif name == "id":
            assert isinstance(value, int) and not isinstance(value, bool)
        elif name == "created_at":
            value = datetime.fromisoformat(value)
        else:
            assert isinstance(value, str)
        return value, last_id
    except Exception:
        raise _query_error(
            "page_token",
            "malformed page_token; pass the next_page_token of the previous page unchanged (same sort)",
            token,
        )


RUN_LOADS = (selectinload(Run.latest_metrics), selectinload(Run.teacher_links), selectinload(Run.tag_rows))


def _column_page(
    session: Session,
    conditions: list[ColumnElement[bool]],
    column: ColumnElement[Any],
    descending: bool,
    limit: int,
    after: tuple[Any, int] | None,
) -> list[tuple[Run, Any]]:
    if after is not None:
        value, last_id = after
        if descending:
            conditions = [*conditions, or_(column < value, and_(column == value, Run.id < last_id))]
        else:
            conditions = [*conditions, or_(column > value, and_(column == value, Run.id > last_id))]
    order = [column.desc(), Run.id.desc()] if descending else [column.asc(), Run.id.asc()]
    stmt = select(Run, column).where(*conditions).order_by(*order).limit(limit + 1).options(*RUN_LOADS)
    return [(run, value) for run, value in session.execute(stmt)]


def _metric_page(
    session: Session,
    conditions: list[ColumnElement[bool]],
    key: str,
    descending: bool,
    limit: int,
    after: tuple[Any, int] | None,
) -> list[tuple[Run, Any]]:
    """The next limit + 1 runs by (latest value of `key`, id), then the runs without it by id.

    Two index-ordered reads instead of sorting every run: the runs with a value walk the
    (key, value, run_id) index from the page token on (a row-value bound both databases seek to);
    the runs without one follow by primary key, each checked against latest_metric's primary key."""
    found: list[tuple[int, float | None]] = []
    if after is None or after[0] is not None:
        metric = LatestMetric
        stmt = select(metric.run_id, metric.value).where(metric.key == key)
        if conditions:
            stmt = stmt.join(Run, Run.id == metric.run_id).where(*conditions)
        position = tuple_(metric.value, metric.run_id)
        if after is not None:
            stmt = stmt.where(position < tuple_(*after) if descending else position > tuple_(*after))
        order = [metric.value.desc(), metric.run_id.desc()] if descending else [metric.value, metric.run_id]
        found = [(run_id, value) for run_id, value in session.execute(stmt.order_by(*order).limit(limit + 1))]
    if len(found) <= limit:
        logged = select(LatestMetric.run_id).where(LatestMetric.run_id == Run.id, LatestMetric.key == key)
        stmt = select(Run.id).where(*conditions, ~logged.exists())
        if after is not None and after[0] is None:
            stmt = stmt.where(Run.id < after[1] if descending else Run.id > after[1])
        stmt = stmt.order_by(Run.id.desc() if descending else Run.id.asc()).limit(limit + 1 - len(found))
        found += [(run_id, None) for run_id in session.scalars(stmt)]
    runs = {
        r.id: r
        for r in session.scalars(select(Run).where(Run.id.in_([i for i, _ in found])).options(*RUN_LOADS))
    }
    return [(runs[run_id], value) for run_id, value in found if run_id in runs]


def list_runs(
    session: Session, flt: RunFilter, sort: str, limit: int, page_token: str | None
) -> tuple[list[Run], str | None]:
    """Keyset pagination over (sort value, id), so deep pages cost the same as the first.

    `metric:<key>` sorts by each run's latest value of that metric; runs that never logged it come last."""
    descending, name, metric_key = _parse_sort(sort)
    conditions = _filter_conditions(flt)
    after = _decode_token(page_token, name) if page_token else None
    if metric_key is None:
        rows = _column_page(session, conditions, SORTABLE[name], descending, limit, after)
    else:
        rows = _metric_page(session, conditions, metric_key, descending, limit, after)
    next_token = None
    if len(rows) > limit:
        last, value = rows[limit - 1]
        next_token = _encode_token([value.isoformat() if isinstance(value, datetime) else value, last.id])
    return [run for run, _ in rows[:limit]], next_token


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


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {dotted.path: leaf}; lists and scalars are leaves, empty mappings vanish."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


@dataclass(frozen=True)
class RunColumns:
    spec_fields: list[str]
    hparam_fields: list[str]
    metric_keys: list[str]
    tags: list[str]
    sampled_runs: int


COLUMN_SAMPLE = 500


def run_columns(session: Session, flt: RunFilter, sample: int = COLUMN_SAMPLE) -> RunColumns:
    """What a runs table can show for these runs: metric keys and tags (exact, by SQL DISTINCT) and the
    spec and hyperparameter paths of the newest `sample` runs (specs are JSON, so they are read, not queried)."""
    conditions = _filter_conditions(flt)
    keys = select(LatestMetric.key).distinct().order_by(LatestMetric.key)
    tags = select(RunTag.tag).distinct().order_by(RunTag.tag)
    if conditions:
        matching = select(Run.id).where(*conditions)
        keys = keys.where(LatestMetric.run_id.in_(matching))
        tags = tags.where(RunTag.run_id.in_(matching))
    rows = session.execute(
        select(Run.spec, Run.hparams).where(*conditions).order_by(Run.id.desc()).limit(sample)
    ).all()
    spec_fields: set[str] = set()
    hparam_fields: set[str] = set()
    for spec, hparams in rows:
        spec_fields.update(flatten(spec or {}))
        hparam_fields.update(flatten(hparams or {}, "hparams."))
    return RunColumns(
        spec_fields=sorted(spec_fields),
        hparam_fields=sorted(hparam_fields),
        metric_keys=list(session.scalars(keys)),
        tags=list(session.scalars(tags)),
        sampled_runs=len(rows),
    )


COMPARE_MIN, COMPARE_MAX = 2, 20


def compare_runs(
    session: Session, ids: Sequence[int]
) -> tuple[list[Run], dict[str, dict[int, Any]], list[str]]:
    """The runs (in the order asked), the spec/hparams paths whose values differ between them
    ({path: {run id: value}}, a missing path reads None) and the metric keys every run has."""
    unique = list(dict.fromkeys(ids))
    if not COMPARE_MIN <= len(unique) <= COMPARE_MAX:
        raise _query_error("ids", f"compare {COMPARE_MIN} to {COMPARE_MAX} distinct runs", list(ids))
    found = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(unique)).options(*RUN_LOADS))}
    missing = [i for i in unique if i not in found]
    if missing:
        raise NotFound(f"run(s) {', '.join(map(str, missing))} not found")
    runs = [found[i] for i in unique]
    flats = {r.id: {**flatten(r.spec), **flatten(r.hparams, "hparams.")} for r in runs}
    diff: dict[str, dict[int, Any]] = {}
    for path in sorted(set().union(*flats.values())):
        values = {run_id: flat.get(path) for run_id, flat in flats.items()}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            diff[path] = values
    common = set.intersection(*(set(summary(r)) for r in runs))
    return runs, diff, sorted(common)


# ---------------------------------------------------------------- saved views


def create_view(session: Session, name: str, params: dict[str, Any]) -> SavedView:
    view = SavedView(name=name, params=params)
    session.add(view)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"a view named '{name}' already exists; pick another name or delete that view first")
    return view


def list_views(session: Session) -> list[SavedView]:
    return list(session.scalars(select(SavedView).order_by(SavedView.name)))


def delete_view(session: Session, view_id: int) -> None:
    if session.execute(delete(SavedView).where(SavedView.id == view_id)).rowcount == 0:
        raise NotFound(f"view {view_id} not found")


def claim_run(session: Session, run_id: int, worker_host: str, attempt: int | None) -> Run:
    """A worker takes a queued run. Refused when the run was cancelled, or already taken by another attempt."""
    run = get_run(session, run_id, lock=True)
    if attempt is not None and attempt != run.attempt:
        raise Conflict(f"run {run_id} is at attempt {run.attempt}; this delivery was for attempt {attempt}")
    if run.status != "queued":
        raise Conflict(f"run {run_id} is {run.status}, not queued; nothing to do")
    run.status = "running"
    run.worker_host = worker_host
    run.started_at = run.heartbeat_at = utcnow()
    run.finished_at = None
    return run


def heartbeat(session: Session, run_id: int) -> Run:
    run = get_run(session, run_id)
    if run.status != "running":
        raise Conflict(f"run {run_id} is {run.status}, not running")
    run.heartbeat_at = utcnow()
    return run


def finish_run(session: Session, run_id: int, status: str, error: str | None) -> tuple[Run, list[Run]]:
    """Record a worker's final status; returns the run and the dependents it released (to enqueue)."""
    run = get_run(session, run_id, lock=True)
    if run.status != "running":
        raise Conflict(f"run {run_id} is {run.status}; only a running run can finish")
    if status == "succeeded" and run.cancel_requested:
        status = "cancelled"
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    return run, settle_dependents(session, run)


def request_cancel(session: Session, run_id: int) -> tuple[Run, list[Run]]:
    run = get_run(session, run_id, lock=True)
    if run.status in FINAL_STATUSES:
        raise Conflict(f"run {run_id} is already {run.status}")
    run.cancel_requested = True
    if run.status in {"queued", "waiting"}:
        run.status = "cancelled"
        run.finished_at = utcnow()
        return run, settle_dependents(session, run)
    return run, []


def dependency_ids(run: Run) -> list[int]:
    return [link.teacher_id for link in run.teacher_links] + (
        [run.generator_run_id] if run.generator_run_id else []
    )


def _dependents(session: Session, run_id: int) -> list[Run]:
    students = select(RunTeacher.student_id).where(RunTeacher.teacher_id == run_id)
    return list(
        session.scalars(
            select(Run)
            .where(Run.status == "waiting", or_(Run.id.in_(students), Run.generator_run_id == run_id))
            .options(selectinload(Run.teacher_links))
            .with_for_update()
        )
    )


def settle_dependents(session: Session, run: Run) -> list[Run]:
    """After `run` reached a final status: release waiting dependents whose dependencies all succeeded, or fail
    them (and, transitively, their own dependents) with a reason that names the run. Returns runs to enqueue."""
    session.flush()
    released: list[Run] = []
    for dependent in _dependents(session, run.id):
        if run.status == "succeeded":
            statuses = dict(
                session.execute(select(Run.id, Run.status).where(Run.id.in_(dependency_ids(dependent)))).all()
            )
            if all(s == "succeeded" for s in statuses.values()):
                dependent.status = "queued"
                released.append(dependent)
        else:
            role = "generator" if dependent.generator_run_id == run.id else "teacher"
            dependent.status = "failed"
            dependent.error = f"{role} run {run.id} {run.status}" + (f": {run.error}" if run.error else "")
            dependent.finished_at = utcnow()
            released += settle_dependents(session, dependent)
    return released


def retry_run(session: Session, run_id: int) -> Run:
    """Run a failed or cancelled run again as the next attempt; it waits if its dependencies are unfinished."""
    run = get_run(session, run_id, lock=True)
    if run.status not in {"failed", "cancelled"}:
        raise Conflict(f"run {run_id} is {run.status}; only failed or cancelled runs can be retried")
    deps = dict(session.execute(select(Run.id, Run.status).where(Run.id.in_(dependency_ids(run)))).all())
    broken = sorted(i for i, s in deps.items() if s in {"failed", "cancelled"})
    if broken:
        raise Conflict(
            f"run {run_id} depends on run(s) {broken}, which are failed or cancelled; retry those first"
        )
    run.attempt += 1
    run.status = "queued" if all(s == "succeeded" for s in deps.values()) else "waiting"
    run.error = None
    run.cancel_requested = False
    run.worker_host = None
    run.started_at = run.finished_at = run.heartbeat_at = None
    return run


def fail_stale_runs(session: Session, older_than_seconds: float) -> list[int]:
    """Fail running runs whose worker stopped heartbeating (the embedded broker never redelivers)."""
    cutoff = datetime.fromtimestamp(time.time() - older_than_seconds).astimezone()
    stale = list(session.scalars(select(Run).where(Run.status == "running", Run.heartbeat_at < cutoff)))
    for run in stale:
        run.status = "failed"
        run.error = f"worker {run.worker_host} stopped heartbeating for over {older_than_seconds:.0f} s"
        run.finished_at = utcnow()
        settle_dependents(session, run)
    return [r.id for r in stale]


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class MetricPoint:
    key: str
    step: int
    value: float
    wall_time: float | None = None


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def log_metrics(session: Session, run_id: int, points: Iterable[MetricPoint]) -> int:
    """Upsert a batch; the same (key, step) written twice is stored once. Returns the number of points."""
    require_run(session, run_id)
    now = time.time()
    # Within one batch the last write of a (key, step) wins, as it would across batches.
    rows = {
        (p.key, p.step): {
            "run_id": run_id,
            "key": p.key,
            "step": p.step,
            "value": p.value,
            "wall_time": p.wall_time or now,
        }
        for p in points
    }
    if not rows:
        return 0
    insert = _insert(session)
    values = list(rows.values())
    stmt = insert(Metric)
    # executemany form: the driver batches the rows (insertmanyvalues) without compiling a statement per size.
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key", "step"],
            set_={"value": stmt.excluded.value, "wall_time": stmt.excluded.wall_time},
        ),
        values,
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in values:
        if row["key"] not in latest or row["step"] >= latest[row["key"]]["step"]:
            latest[row["key"]] = row
    stmt = insert(LatestMetric).values(list(latest.values()))
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "step": stmt.excluded.step,
                "value": stmt.excluded.value,
                "wall_time": stmt.excluded.wall_time,
            },
            where=LatestMetric.step <= stmt.excluded.step,
        )
    )
    return len(values)


def metric_keys(session: Session, run_id: int) -> list[str]:
    require_run(session, run_id)
    return list(
        session.scalars(
            select(LatestMetric.key).where(LatestMetric.run_id == run_id).order_by(LatestMetric.key)
        )
    )


def metric_history(
    session: Session, run_id: int, key: str, max_points: int | None
) -> list[tuple[int, float]]:
    """Points ordered by step. With max_points, every k-th point plus the last one, chosen in SQL so a
    million-point history is never loaded to draw a thousand-point curve."""
    require_run(session, run_id)
    where = (Metric.run_id == run_id, Metric.key == key)
    query = select(Metric.step, Metric.value).where(*where).order_by(Metric.step)
    if max_points is not None:
        total = session.scalar(select(func.count()).select_from(Metric).where(*where)) or 0
        if total > max_points:
            if max_points == 1:
                query = query.order_by(None).order_by(Metric.step.desc()).limit(1)
            else:
                stride = -(-(total - 1) // (max_points - 1))  # ceil: at most max_points points
                numbered = (
                    select(
                        Metric.step,
                        Metric.value,
                        (func.row_number().over(order_by=Metric.step) - 1).label("rn"),
                    )
                    .where(*where)
                    .subquery()
                )
                query = (
                    select(numbered.c.step, numbered.c.value)
                    .where(or_(numbered.c.rn % stride == 0, numbered.c.rn == total - 1))
                    .order_by(numbered.c.step)
                )
    points = [(int(step), float(value)) for step, value in session.execute(query)]
    if not points and key not in metric_keys(session, run_id):
        raise NotFound(f"run {run_id} has no metric '{key}'")
    return points


def summary(run: Run) -> dict[str, float]:
    return {m.key: m.value for m in run.latest_metrics}


def primary_metric_key(task: str) -> str | None:
    info = TASKS.get(task)
    return info.primary_metric.key if info else None


# ---------------------------------------------------------------- artifacts


def record_artifact(session: Session, run_id: int, path: str, kind: str, sha256: str, size: int) -> Artifact:
    require_run(session, run_id)
    artifact = session.scalars(
        select(Artifact).where(Artifact.run_id == run_id, Artifact.path == path)
    ).first()
    if artifact is None:
        artifact = Artifact(run_id=run_id, path=path)
        session.add(artifact)
    artifact.kind, artifact.sha256, artifact.size, artifact.created_at = kind, sha256, size, utcnow()
    session.flush()
    return artifact


def get_artifact(session: Session, run_id: int, path: str) -> Artifact:
    artifact = session.scalars(
        select(Artifact).where(Artifact.run_id == run_id, Artifact.path == path)
    ).first()
    if artifact is None:
        raise NotFound(f"run {run_id} has no artifact '{path}'")
    return artifact


# ---------------------------------------------------------------- grids


def create_grid(
    session: Session, definition: GridDefinition, experiment_id: int | None, queue: str
) -> tuple[Grid, list[Run]]:
    """Expand a grid into runs (dependencies first); returns the grid and the runs ready to enqueue now."""
    if experiment_id is None:
        name = definition.experiment or definition.name
        experiment = session.scalars(select(Experiment).where(Experiment.name == name)).first()
        experiment = experiment or create_experiment(session, name, definition.description)
    else:
        experiment = get_experiment(session, experiment_id)
    grid = Grid(
        experiment_id=experiment.id, name=definition.name, definition=definition.model_dump(mode="json")
    )
    session.add(grid)
    session.flush()
    cells = expand(definition)
    issues: list[dict[str, Any]] = []
    run_ids: dict[str, int] = {}
    created: list[Run] = []
    for cell in cells:
        spec_dict = dict(cell.spec)
        spec_dict["teachers"] = [run_ids[t] for t in cell.teachers if t in run_ids]
        if cell.generator and cell.generator in run_ids:
            spec_dict["method"] = {**spec_dict["method"], "generator_run": run_ids[cell.generator]}
        prefix = ("body", "definition", "cells", cell.key)
        try:
            spec = RunSpec.model_validate(spec_dict)
        except ValidationError as exc:
            issues += [
                {"type": e["type"], "loc": [*prefix, *e["loc"]], "msg": e["msg"], "input": e.get("input")}
                for e in exc.errors(include_url=False)
            ]
            continue
        problems = check_spec(spec)
        if problems:
            issues += [p.as_error(prefix) for p in problems]
            continue
        run = create_run(
            session, experiment.id, spec, definition.queue or queue, grid_id=grid.id, cell=cell.key
        )
        run_ids[cell.key] = run.id
        created.append(run)
    if issues:
        session.rollback()
        raise Invalid(issues)
    return grid, [r for r in created if r.status == "queued"]


def get_grid(session: Session, grid_id: int) -> Grid:
    grid = session.get(Grid, grid_id)
    if grid is None:
        raise NotFound(f"grid {grid_id} not found")
    return grid


def list_grids(session: Session, experiment_id: int | None) -> list[Grid]:
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
    for run in grid_runs(session, grid_id):  # id order is dependency order
        if run.status in {"failed", "cancelled"}:
            retried = retry_run(session, run.id)
            session.flush()
            if retried.status == "queued":
                ready.append(retried)
    return ready

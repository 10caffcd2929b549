"""The paper's analysis views over one grid or one experiment, computed from the database in a few queries.

Every view starts from a scope: the runs of a grid, or of an experiment (one section per grid, plus one per task
for the runs submitted outside any grid). Student groups are those of `backend.reports` (the cell key without its
seed), and the per-group numbers (mean ± std over the seeds that succeeded, gap to the teacher ensemble, gap
reduction vs KD, Ĥ) come from `reports.grid_report`, so the views and the paper-style report always agree.

Runs outside grids get a synthetic cell so the same grouping applies: a run another run names as a teacher is a
teacher, a `gan` run a generator, any other run a student labelled by its method (with the parameters that differ
from the catalog's defaults) and its model.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend import reports, store
from backend.errors import Invalid
from backend.models import FINAL_STATUSES, Grid, Run, utcnow
from xclab.catalog import METHODS, TASKS
from xclab.grids import model_label
from xclab.spec import ModelSpec

# The transfer set each distillation method's targets come from (for the Ĥ histogram).
TRANSFER_SETS = {"kd": "original", "xcl-mix": "extended", "xcl-gan": "extended"}
# How a swept parameter is written on a chart.
SYMBOLS = {"temperature": "T", "epsilon": "ε", "alpha": "α", "mix_ratio": "r", "gan_fraction": "f"}


# ------------------------------------------------------------ scope


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
    runs: list[Any]
    report: dict[str, Any]
    groups: dict[str, list[Run]]

    @property
    def kind(self) -> str:
        return TASKS[self.task].kind

    def header(self) -> dict[str, Any]:
        return {
            "grid_id": self.grid_id,
            "grid": self.name,
            "task": self.task,
            "metric": self.report["metric"],
            "goal": self.report["goal"],
            "ensemble_score": self.report["ensemble_score"],
        }


@dataclass
class Scope:
    kind: str  # grid | experiment
    id: int
    name: str
    runs: list[Run]
    grids: dict[int, Grid]
    sections: list[Section] = field(default_factory=list)
    cells: dict[int, str] = field(default_factory=dict)  # run id -> cell key (real or synthetic)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name}


def _scope_error(loc: str, msg: str, value: Any = None) -> Invalid:
    return Invalid([{"type": "value_error", "loc": ["query", loc], "msg": msg, "input": value}])


def load_scope(session: Session, grid_id: int | None, experiment_id: int | None) -> Scope:
    """The runs (with summaries and teacher links, loaded in bulk) of a grid or an experiment."""
    if grid_id is None and experiment_id is None:
        raise Invalid(
            [
                {
                    "type": "missing",
                    "loc": ["query", name],
                    "msg": "pass grid_id or experiment_id to choose the runs to analyse",
                    "input": None,
                }
                for name in ("grid_id", "experiment_id")
            ]
        )
    if grid_id is not None and experiment_id is not None:
        raise _scope_error("experiment_id", "pass grid_id or experiment_id, not both", experiment_id)
    if grid_id is not None:
        grid = store.get_grid(session, grid_id)
        scope = Scope("grid", grid.id, grid.name, store.grid_runs(session, grid.id), {grid.id: grid})
    else:
        assert experiment_id is not None
        experiment = store.get_experiment(session, experiment_id)
        runs = session.scalars(
            select(Run)
            .where(Run.experiment_id == experiment_id)
            .order_by(Run.id)
            .options(selectinload(Run.latest_metrics), selectinload(Run.teacher_links))
        )
        grids = {g.id: g for g in sorted(store.list_grids(session, experiment_id), key=lambda g: g.id)}
        scope = Scope("experiment", experiment.id, experiment.name, list(runs), grids)
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
        scope.sections.append(_section(grid_id, grid.name, grid.definition["task"], runs, grid))
    for task, runs in loose.items():
        if task not in TASKS:
            continue
        cells = _synthetic_cells(runs)
        scope.cells.update({c.run.id: c.cell for c in cells})
        name = f"{scope.name}: {task} runs outside grids"
        scope.sections.append(
            _section(None, name, task, cells, SimpleNamespace(id=None, name=name, definition={"task": task}))
        )


def _section(grid_id: int | None, name: str, task: str, runs: list[Any], grid: Any) -> Section:
    report = reports.grid_report(cast(Grid, grid), runs)
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:  # the grouping of reports.grid_report, in the same order as its rows
        cell = run.cell or ""
        if cell.startswith("student/"):
            groups[cell.rsplit("/seed=", 1)[0]].append(run.run if isinstance(run, _Cell) else run)
    return Section(grid_id, name, task, runs, report, dict(groups))


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _model_label(run: Run) -> str:
    try:
        return model_label(ModelSpec.model_validate(run.spec.get("model", {})))
    except ValueError:
        return run.model


def _method_params(run: Run) -> dict[str, Any]:
    """The method's resolved parameters, without the generator run id (an id, not a setting)."""
    params = (run.hparams or {}).get("method_params") or run.spec.get("method", {})
    return {k: v for k, v in params.items() if k not in {"name", "generator_run"} and v is not None}


def _method_label(run: Run) -> str:
    defaults = METHODS[run.method].params if run.method in METHODS else {}
    changed = {k: v for k, v in _method_params(run).items() if defaults.get(k) != v}
    inner = ",".join(f"{k}={_fmt(changed[k])}" for k in sorted(changed))
    return run.method + (f"[{inner}]" if inner else "")


def _synthetic_cells(runs: list[Run]) -> list[_Cell]:
    ensembles: dict[int, str] = {}
    for run in runs:
        ids = [link.teacher_id for link in run.teacher_links]
        for teacher_id in ids:
            ensembles.setdefault(teacher_id, "runs-" + "+".join(str(i) for i in ids))
    cells = []
    for run in runs:
        if run.method == "gan":
            cell = f"generator/run-{run.id}"
        elif run.id in ensembles:
            cell = f"teacher/{ensembles[run.id]}/{run.id}"
        else:
            cell = f"student/{_method_label(run)}/{_model_label(run)}/seed={run.spec.get('seed', 0)}"
        cells.append(_Cell(run, cell))
    return cells


# ------------------------------------------------------------ shared arithmetic


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _succeeded(members: list[Run]) -> list[Run]:
    return [r for r in members if r.status == "succeeded"]


def _metric_mean(members: list[Run], key: str) -> float | None:
    values = [store.summary(r)[key] for r in _succeeded(members) if key in store.summary(r)]
    return statistics.fmean(values) if values else None


def _teacher_key(metric: str) -> str:
    return metric.replace("test_", "teacher_test_", 1)


def _rows(section: Section) -> dict[str, dict[str, Any]]:
    return {row["group"]: row for row in section.report["rows"]}


def _ensemble_name(scope: Scope, run: Run) -> str | None:
    """The ensemble a student distils from, from its first teacher's cell (teacher/<ensemble>/<k>)."""
    if not run.teacher_links:
        return None
    cell = scope.cells.get(run.teacher_links[0].teacher_id, "")
    return cell.split("/")[1] if cell.startswith("teacher/") else f"run {run.teacher_links[0].teacher_id}"


# ------------------------------------------------------------ 1. gap


def gap(scope: Scope) -> dict[str, Any]:
    """Per section, the grid report (teacher ensemble, student mean ± std, gap, gap reduction vs KD) with, per
    row, the KD row it was measured against and the ensemble the method distils from."""
    sections = []
    for section in scope.sections:
        rows = section.report["rows"]
        kd_rows = {r["model"]: _kd_group(rows, r["model"]) for r in rows}
        sections.append(
            {
                **section.report,
                "rows": [
                    {
                        **row,
                        "kd_group": kd_rows[row["model"]],
                        "ensemble": _ensemble_name(scope, section.groups[row["group"]][0]),
                    }
                    for row in rows
                ],
            }
        )
    return {"scope": scope.describe(), "sections": sections}


def _kd_group(rows: list[dict[str, Any]], model: str) -> str | None:
    kd = reports._kd_reference([reports.Row(**row) for row in rows], model)
    return kd.group if kd else None


# ------------------------------------------------------------ 2. entropy


def entropy(scope: Scope) -> dict[str, Any]:
    """One point per student group: mean Ĥ against mean ± std of the primary metric, with the method, its
    parameters, the swept ones and the study they belong to; plus each succeeded run's own Ĥ."""
    sections = []
    for section in scope.sections:
        rows, key = _rows(section), section.report["metric"]
        params = {group: _method_params(members[0]) for group, members in section.groups.items()}
        teachers = {group: _ensemble_name(scope, members[0]) for group, members in section.groups.items()}
        swept = _swept(section, params)
        teacher_study = _teacher_studies(section, teachers)
        points = []
        for group, members in section.groups.items():
            row, method = rows[group], members[0].method
            group_swept = {k: params[group].get(k) for k in swept.get(method, [])}
            if group_swept:
                study = f"{method}: " + ", ".join(sorted(group_swept))
                label = ", ".join(f"{SYMBOLS.get(k, k)}={_fmt(v)}" for k, v in sorted(group_swept.items()))
            elif method in teacher_study:
                study, label = f"{method}: teacher", teachers[group] or "no teacher"
            else:
                study, label = "methods", row["method"]
            h_values = [store.summary(r)["h_hat"] for r in _succeeded(members) if "h_hat" in store.summary(r)]
            points.append(
                {
                    "group": group,
                    "method": method,
                    "method_label": row["method"],
                    "model": row["model"],
                    "study": study,
                    "label": label,
                    "params": params[group],
                    "swept": group_swept,
                    "ensemble": teachers[group],
                    "teacher_score": _metric_mean(members, _teacher_key(key)),
                    "transfer_set": TRANSFER_SETS.get(method),
                    "n": row["n"],
                    "h_hat": row["h_hat"],
                    "h_hat_std": _mean_std(h_values)[1],
                    "mean": row["mean"],
                    "std": row["std"],
                    "runs": [
                        {
                            "run_id": r.id,
                            "seed": r.spec.get("seed"),
                            "h_hat": store.summary(r).get("h_hat"),
                            "value": store.summary(r).get(key),
                        }
                        for r in _succeeded(members)
                    ],
                }
            )
        sections.append({**section.header(), "points": points})
    return {"scope": scope.describe(), "sections": sections}


def _swept(section: Section, params: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per method, the parameters whose value differs between its groups (the sweep's axes)."""
    values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for group, members in section.groups.items():
        for k, v in params[group].items():
            values[members[0].method][k].add(repr(v))
    return {method: sorted(k for k, seen in keys.items() if len(seen) > 1) for method, keys in values.items()}


def _teacher_studies(section: Section, teachers: dict[str, str | None]) -> set[str]:
    """Methods whose groups distil from different ensembles (the supplement's teacher ablation)."""
    seen: dict[str, set[str | None]] = defaultdict(set)
    for group, members in section.groups.items():
        seen[members[0].method].add(teachers[group])
    return {method for method, ensembles in seen.items() if len(ensembles) > 1}


# ------------------------------------------------------------ 3. student size


def is_binary(run: Run) -> bool:
    options = run.spec.get("model", {}).get("options") or {}
    return bool(options.get("binary")) or "binary" in run.model


def _as_error(section: Section, value: float | None) -> float | None:
    if value is None:
        return None
    return 100.0 - value if section.kind == "classification" else value


def student_size(scope: Scope) -> dict[str, Any]:
    """Per (method, model, precision, width): mean error ± std against mean params and MACs (the supplement's
    Figure 1), with the teacher ensemble's score as an error for the reference line."""
    sections = []
    for section in scope.sections:
        rows, points = _rows(section), []
        for group, members in section.groups.items():
            row, first = rows[group], members[0]
            points.append(
                {
                    "group": group,
                    "method": row["method"],
                    "model": first.model,
                    "model_label": row["model"],
                    "precision": "binary" if is_binary(first) else "full",
                    "width": float(first.spec.get("model", {}).get("width", 1.0)),
                    "n": row["n"],
                    "error": _as_error(section, row["mean"]),
                    "error_std": row["std"],
                    "params": _metric_mean(members, "params"),
                    "macs": _metric_mean(members, "macs"),
                    "binary_macs": _metric_mean(members, "binary_macs"),
                }
            )
        points.sort(key=lambda p: (p["method"], p["model"], p["precision"], p["width"]))
        sections.append(
            {
                **section.header(),
                "error_metric": "top-1 error (%)"
                if section.kind == "classification"
                else "angular error (°)",
                "teacher_error": _as_error(section, section.report["ensemble_score"]),
                "points": points,
            }
        )
    return {"scope": scope.describe(), "sections": sections}


# ------------------------------------------------------------ 4. lineage


# Dependencies outside the scope need only their own row (no metrics are shown for them).
_NODE_LOAD = (selectinload(Run.teacher_links),)


def lineage(session: Session, scope: Scope) -> dict[str, Any]:
    """Runs as nodes; teacher -> student and generator -> student edges. A student is stale when one of its
    teachers (or its generator) finished after the student started, or is being re-run (attempt > 1, unfinished)
    since: its result no longer matches the dependency's current outputs."""
    runs = {r.id: r for r in scope.runs}
    wanted = {d for r in scope.runs for d in store.dependency_ids(r)} - set(runs)
    external = (
        {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(wanted)).options(*_NODE_LOAD))}
        if wanted
        else {}
    )
    everything = {**runs, **external}
    nodes: dict[int, dict[str, Any]] = {}
    for run in [*runs.values(), *external.values()]:
        key = store.primary_metric_key(run.task)
        cell = scope.cells.get(run.id) or run.cell or ""
        nodes[run.id] = {
            "id": run.id,
            "cell": run.cell,
            "role": cell.split("/", 1)[0] if cell else _role(run),
            "grid_id": run.grid_id,
            "experiment_id": run.experiment_id,
            "method": run.method,
            "model": _model_label(run),
            "status": run.status,
            "attempt": run.attempt,
            "metric": key,
            "value": store.summary(run).get(key or "") if run.id in runs else None,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "external": run.id in external,
            "stale": False,
            "stale_reasons": [],
        }
    edges = []
    for run in runs.values():
        deps = [(link.teacher_id, "teacher") for link in run.teacher_links]
        if run.generator_run_id:
            deps.append((run.generator_run_id, "generator"))
        for dep_id, kind in deps:
            reason = _staleness(run, everything.get(dep_id), kind)
            edges.append({"source": dep_id, "target": run.id, "kind": kind, "stale": reason is not None})
            if reason:
                nodes[run.id]["stale"] = True
                nodes[run.id]["stale_reasons"].append(reason)
    return {
        "scope": scope.describe(),
        "nodes": list(nodes.values()),
        "edges": edges,
        "stale": sorted(i for i, n in nodes.items() if n["stale"]),
    }


def _role(run: Run) -> str:
    if run.method == "gan":
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


# ------------------------------------------------------------ 5. cost


def device(run: Run) -> str:
    """gpu or cpu: hparams.device when a run names one, else the queue it was sent to."""
    named = str((run.hparams or {}).get("device") or "").lower()
    if named:
        return "gpu" if named.startswith(("cuda", "gpu")) else "cpu"
    return "gpu" if "gpu" in (run.queue or "").lower() else "cpu"


def run_seconds(run: Run) -> tuple[float | None, str | None]:
    """Compute time of the run's last attempt: its wall_time_s metric, else finished_at - started_at."""
    wall = store.summary(run).get("wall_time_s")
    if wall is not None:
        return float(wall), "wall_time_s"
    if run.started_at is not None and run.finished_at is not None:
        return max(0.0, (run.finished_at - run.started_at).total_seconds()), "timestamps"
    return None, None


def _hours(seconds: float) -> float:
    return seconds / 3600.0


def cost(scope: Scope, now: datetime | None = None) -> dict[str, Any]:
    """CPU/GPU seconds per run and per grid, and per student group the metric gained over ERM of the same
    model per hour of one run of that group (for error metrics, the error removed)."""
    now = now or utcnow()
    per_run = []
    seconds: dict[int, float] = {}
    for run in scope.runs:
        secs, source = run_seconds(run)
        dev = device(run)
        if secs is not None:
            seconds[run.id] = secs
        per_run.append(
            {
                "run_id": run.id,
                "grid_id": run.grid_id,
                "cell": scope.cells.get(run.id) or run.cell,
                "method": run.method,
                "model": _model_label(run),
                "status": run.status,
                "attempt": run.attempt,
                "queue": run.queue,
                "device": dev,
                "seconds": secs,
                "source": source,
                "cpu_seconds": secs if secs is not None and dev == "cpu" else 0.0,
                "gpu_seconds": secs if secs is not None and dev == "gpu" else 0.0,
                "running_for_s": (now - run.started_at).total_seconds()
                if run.status == "running" and run.started_at
                else None,
            }
        )
    grids = []
    for section in scope.sections:
        ids = {r.id for r in section.runs}
        rows = [r for r in per_run if r["run_id"] in ids]
        grids.append(_totals({"grid_id": section.grid_id, "grid": section.name, "runs": len(rows)}, rows))
    methods = []
    for section in scope.sections:
        rows = _rows(section)
        for group, members in section.groups.items():
            row = rows[group]
            erm = next(
                (r for r in section.report["rows"] if r["method"] == "erm" and r["model"] == row["model"]),
                None,
            )
            done = [seconds[r.id] for r in _succeeded(members) if r.id in seconds]
            devices = [device(r) for r in members]
            dev = max(set(devices), key=devices.count)
            hours = _hours(statistics.fmean(done)) if done else None
            gain = None
            if row["mean"] is not None and erm is not None and erm["mean"] is not None:
                gain = (
                    row["mean"] - erm["mean"]
                    if section.report["goal"] == "max"
                    else erm["mean"] - row["mean"]
                )
            methods.append(
                {
                    "grid_id": section.grid_id,
                    "grid": section.name,
                    "group": group,
                    "method": row["method"],
                    "model": row["model"],
                    "metric": section.report["metric"],
                    "goal": section.report["goal"],
                    "device": dev,
                    "unit": f"{dev}-hour",
                    "n": row["n"],
                    "mean": row["mean"],
                    "erm_mean": None if erm is None else erm["mean"],
                    "gain": gain,
                    "hours_per_run": hours,
                    "total_hours": _hours(sum(done)) if done else None,
                    "gain_per_hour": gain / hours if gain is not None and hours else None,
                }
            )
    return {
        "scope": scope.describe(),
        "runs": per_run,
        "grids": grids,
        "total": _totals({"runs": len(per_run)}, per_run),
        "methods": methods,
        "note": (
            "Seconds: the run's wall_time_s metric, else finished_at - started_at, of its last attempt; GPU when "
            "the run's queue (or hparams.device) is a GPU one. gain = mean - ERM mean of the same model (ERM mean "
            "- mean for error metrics); gain_per_hour divides it by the mean hours of one succeeded run."
        ),
    }


def _totals(base: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    cpu = sum(r["cpu_seconds"] for r in rows)
    gpu = sum(r["gpu_seconds"] for r in rows)
    return {
        **base,
        "cpu_seconds": cpu,
        "gpu_seconds": gpu,
        "cpu_hours": _hours(cpu),
        "gpu_hours": _hours(gpu),
    }

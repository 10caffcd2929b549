"""Compare's grouping and hyperparameter views, without Streamlit: runs grouped by any spec or hparams field,
their curves aggregated per step (mean with a ± std or 95 % t-interval band), x values by step or wall time,
and the columns of the parallel-coordinates view."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dashboard.tables import diff_text, flatten
from xclab.stats import summarize

BANDS = {"std": "mean ± std", "ci": "mean ± 95 % CI"}
X_AXES = {"step": "epoch / step", "elapsed": "wall time (minutes since start)", "clock": "wall clock"}
MAX_DIMENSIONS = 12  # parallel coordinates beyond this are unreadable


def run_fields(run: dict[str, Any]) -> dict[str, Any]:
    """A run's spec leaves (model.width, method.name, teachers, ...) and hyperparameters (hparams.lr, ...)."""
    return {**flatten(run.get("spec") or {}), **flatten(run.get("hparams") or {}, "hparams.")}


def _same(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def field_options(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Every field a group can be made of; those whose value differs among the runs first, spec before
    hparams."""
    per_run = [run_fields(r) for r in runs]
    paths = sorted({p for fields in per_run for p in fields}, key=lambda p: (p.startswith("hparams."), p))
    varying = [p for p in paths if len({_same(f.get(p)) for f in per_run}) > 1]
    return varying + [p for p in paths if p not in varying]


def group_label(run: dict[str, Any], fields: Sequence[str]) -> str:
    values = run_fields(run)
    return " · ".join(f"{f}={diff_text(values.get(f)) or '–'}" for f in fields)


def group_runs(runs: Sequence[dict[str, Any]], fields: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Runs by the value of the fields, groups in label order, runs in id order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in sorted(runs, key=lambda r: r["id"]):
        groups.setdefault(group_label(run, fields), []).append(run)
    return dict(sorted(groups.items()))


def x_values(points: Sequence[dict[str, Any]], axis: str) -> list[Any]:
    """The x of each point: its step, minutes since the run's first point, or the wall-clock time (UTC)."""
    if axis == "step":
        return [p["step"] for p in points]
    times = [p.get("wall_time") for p in points]
    if axis == "clock":
        return [None if t is None else datetime.fromtimestamp(t, UTC) for t in times]
    start = min((t for t in times if t is not None), default=None)
    return [None if t is None or start is None else (t - start) / 60 for t in times]


@dataclass(frozen=True)
class Band:
    """A group's curve: per step the mean over the runs that logged it, the band's edges, and how many runs."""

    x: list[Any]
    mean: list[float]
    low: list[float]
    high: list[float]
    n: list[int]


def aggregate(curves: Sequence[tuple[list[int], list[Any], list[float]]], band: str) -> Band:
    """Curves (steps, x, values) aligned by step. On a wall-time axis each step sits at the runs' mean x. A
    step one run alone logged has no spread: its band is the line itself."""
    by_step: dict[int, list[tuple[Any, float]]] = {}
    for steps, xs, values in curves:
        for step, x, value in zip(steps, xs, values, strict=True):
            by_step.setdefault(step, []).append((x, value))
    out = Band([], [], [], [], [])
    for step in sorted(by_step):
        pairs = by_step[step]
        summary = summarize([v for _, v in pairs])
        if summary is None:
            continue
        xs = [x for x, _ in pairs if x is not None]
        if not xs:
            continue
        if isinstance(xs[0], datetime):
            x: Any = datetime.fromtimestamp(sum(t.timestamp() for t in xs) / len(xs), UTC)
        else:
            x = xs[0] if len(set(xs)) == 1 else sum(xs) / len(xs)
        if band == "ci" and summary.ci_low is not None and summary.ci_high is not None:
            low, high = summary.ci_low, summary.ci_high
        else:
            low, high = summary.mean - summary.std, summary.mean + summary.std
        out.x.append(x)
        out.mean.append(summary.mean)
        out.low.append(low)
        out.high.append(high)
        out.n.append(summary.n)
    return out


@dataclass(frozen=True)
class Dimension:
    label: str
    values: list[float]
    ticks: list[str] | None  # category names for a categorical field, else None


def _dimension(label: str, values: list[Any]) -> Dimension:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric:
        return Dimension(label, [float(v) for v in values], None)
    names = [diff_text(v) or "–" for v in values]
    categories = sorted(set(names))
    return Dimension(label, [float(categories.index(n)) for n in names], categories)


def parallel_dimensions(
    runs: Sequence[dict[str, Any]], spec_diff: dict[str, dict[str, Any]], metric: str
) -> tuple[list[int], list[Dimension]]:
    """(the runs shown, one axis per differing field and the metric last). Runs without the metric are left
    out; fields that no longer differ among those runs are dropped."""
    shown = [r for r in sorted(runs, key=lambda r: r["id"]) if metric in (r.get("summary") or {})]
    dims = []
    for path, by_run in spec_diff.items():
        values = [by_run.get(str(r["id"]), by_run.get(r["id"])) for r in shown]  # type: ignore[call-overload]
        if len({_same(v) for v in values}) > 1:
            dims.append(_dimension(path, values))
    dims = dims[: MAX_DIMENSIONS - 1]
    dims.append(Dimension(metric, [float(r["summary"][metric]) for r in shown], None))
    return [r["id"] for r in shown], dims

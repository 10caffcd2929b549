"""What a runs table can show (spec paths, hyperparameters, metric keys, tags), and runs side by side."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import NotFound, invalid
from backend.models import LatestMetric, Run, RunParam, RunTag
from backend.store.run_list import RunFilter, filter_conditions
from backend.store.runs import RUN_LOADS, summary

COLUMN_SAMPLE = 500
COMPARE_MIN, COMPARE_MAX = 2, 20


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
    param_keys: list[str]


def run_columns(session: Session, flt: RunFilter, sample: int = COLUMN_SAMPLE) -> RunColumns:
    """What a runs table can show for these runs: metric keys, tags and param keys (exact, by SQL DISTINCT) and the
    spec and hyperparameter paths of the newest `sample` runs (specs are JSON, so they are read, not queried)."""
    conditions = filter_conditions(flt)
    keys = select(LatestMetric.key).distinct().order_by(LatestMetric.key)
    tags = select(RunTag.tag).distinct().order_by(RunTag.tag)
    params = select(RunParam.key).distinct()  # sorted here: params answer in code-point order of their keys
    if conditions:
        matching = select(Run.id).where(*conditions)
        keys = keys.where(LatestMetric.run_id.in_(matching))
        tags = tags.where(RunTag.run_id.in_(matching))
        params = params.where(RunParam.run_id.in_(matching))
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
        param_keys=sorted(session.scalars(params)),
    )


def compare_runs(
    session: Session, ids: Sequence[int]
) -> tuple[list[Run], dict[str, dict[int, Any]], list[str]]:
    """The runs (in the order asked), the spec/hparams paths whose values differ between them
    ({path: {run id: value}}, a missing path reads None) and the metric keys every run has."""
    unique = list(dict.fromkeys(ids))
    if not COMPARE_MIN <= len(unique) <= COMPARE_MAX:
        raise invalid(("query", "ids"), f"compare {COMPARE_MIN} to {COMPARE_MAX} distinct runs", list(ids))
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

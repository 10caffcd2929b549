"""Reproducibility: the environment a worker reports for its run, repeating a finished run as a new one, and
comparing two runs metric by metric (exact equality, timings aside) and environment field by field."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, invalid
from backend.models import FINAL_STATUSES, Metric, Run
from backend.store.runs import create_run, get_run
from xclab.spec import RunSpec

MAX_ENVIRONMENT_BYTES = 64 * 1024
# Measured, not computed: they differ between two runs of one spec on the same machine.
TIMING_METRICS = frozenset({"epoch_seconds", "samples_per_s", "wall_time_s", "peak_memory_mb"})
SYSTEM_PREFIX = "system/"  # the worker's CPU, memory and GPU samples (worker.system_metrics): measured too


def set_environment(session: Session, run_id: int, environment: dict[str, Any]) -> Run:
    try:
        size = len(json.dumps(environment, allow_nan=False))
    except ValueError:
        raise invalid(("body",), "the environment holds NaN or Infinity; report those as strings") from None
    if size > MAX_ENVIRONMENT_BYTES:
        raise invalid(
            ("body",), f"the environment is {size} bytes of JSON; at most {MAX_ENVIRONMENT_BYTES} are stored"
        )
    run = get_run(session, run_id, lock=True)
    if run.status != "running":
        raise Conflict(f"run {run_id} is {run.status}; its worker reports the environment while it runs")
    run.environment = environment
    return run


def rerun(session: Session, run_id: int) -> Run:
    """A new run of a finished run's spec and stored hyperparameters (not re-resolved: a recipe edited since
    must not change the repeat), in the same experiment and queue."""
    source = get_run(session, run_id)
    if source.status not in FINAL_STATUSES:
        raise Conflict(f"run {run_id} is {source.status}; only a finished run can be repeated")
    run = create_run(session, source.experiment_id, RunSpec.model_validate(source.spec), source.queue)
    run.hparams, run.rerun_of = dict(source.hparams), source.id
    session.flush()
    return run


def compare(session: Session, a_id: int, b_id: int) -> dict[str, Any]:
    """Whether two runs logged exactly the same metrics (timings aside); if not, the first step and key where
    they part (steps in order, keys alphabetically within a step); and which environment fields differ."""
    a, b = get_run(session, a_id), get_run(session, b_id)
    ha, hb = _history(session, a_id), _history(session, b_id)
    divergence = None
    for point in sorted(ha.keys() & hb.keys()):
        if ha[point] != hb[point]:
            divergence = {"step": point[0], "key": point[1], "a": ha[point], "b": hb[point]}
            break
    only_a = sorted({f"{k}@{s}" for s, k in ha.keys() - hb.keys()})
    only_b = sorted({f"{k}@{s}" for s, k in hb.keys() - ha.keys()})
    missing = [f"run {r.id} is {r.status}" for r in (a, b) if r.status != "succeeded"]
    env_a, env_b = _flatten(a.environment or {}), _flatten(b.environment or {})
    env_diff = {
        key: {"a": env_a.get(key), "b": env_b.get(key)}
        for key in sorted(env_a.keys() | env_b.keys())
        if env_a.get(key) != env_b.get(key)
    }
    return {
        "a": a_id,
        "b": b_id,
        "identical": divergence is None and not only_a and not only_b and not missing and bool(ha),
        "compared_points": len(ha.keys() & hb.keys()),
        "first_divergence": divergence,
        "only_in_a": only_a,
        "only_in_b": only_b,
        "problems": missing + ([] if ha else [f"run {a_id} has no metrics"]),
        "environment_diff": env_diff,
    }


def _history(session: Session, run_id: int) -> dict[tuple[int, str], float]:
    rows = session.execute(
        select(Metric.step, Metric.key, Metric.value).where(
            Metric.run_id == run_id,
            Metric.key.not_in(TIMING_METRICS),
            Metric.key.not_like(f"{SYSTEM_PREFIX}%"),
        )
    )
    return {(int(step), key): float(value) for step, key, value in rows}


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat

"""Runs as pandas tables (no Streamlit here, so the shaping is testable on its own)."""

from __future__ import annotations

from typing import Any

import pandas as pd

RUN_COLUMNS = [
    "id",
    "experiment",
    "status",
    "task",
    "model",
    "width",
    "method",
    "teachers",
    "seed",
    "attempt",
    "metric",
    "value",
    "created",
    "finished",
]


def primary_value(run: dict[str, Any]) -> float | None:
    key = run.get("primary_metric")
    return run.get("summary", {}).get(key) if key else None


def runs_frame(runs: list[dict[str, Any]], experiment_names: dict[int, str]) -> pd.DataFrame:
    """One row per run, with the task's primary metric and its latest value."""
    rows = []
    for run in runs:
        spec = run.get("spec", {})
        rows.append(
            {
                "id": run["id"],
                "experiment": experiment_names.get(run["experiment_id"], f"#{run['experiment_id']}"),
                "status": run["status"],
                "task": run["task"],
                "model": run["model"],
                "width": spec.get("model", {}).get("width"),
                "method": run["method"],
                "teachers": ", ".join(f"#{t}" for t in run.get("teachers", [])),
                "seed": spec.get("seed"),
                "attempt": run["attempt"],
                "metric": run.get("primary_metric"),
                "value": primary_value(run),
                "created": pd.to_datetime(run.get("created_at"), utc=True),
                "finished": pd.to_datetime(run.get("finished_at"), utc=True),
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def mapping_frame(values: dict[str, Any], key: str = "key", value: str = "value") -> pd.DataFrame:
    """A flat {name: value} dict as a two-column table, sorted by name."""
    return pd.DataFrame(sorted(values.items()), columns=[key, value])

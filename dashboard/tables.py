"""Runs as pandas tables (no Streamlit here, so the shaping is testable on its own)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

RUN_COLUMNS = [
    "id",
    "name",
    "experiment",
    "status",
    "progress",
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


def width_text(width: Any) -> str:
    """A model width as people write it: 0.5, 1, 0.25 (not 1.000000)."""
    if width is None:
        return "–"
    return f"{float(width):g}" if isinstance(width, int | float) else str(width)


def human_bytes(size: int | None) -> str:
    """1536 as "1.5 KiB"; "–" when unknown."""
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # unreachable: GiB is the last unit


def run_name(run: dict[str, Any]) -> str:
    """A run as people say it: `kd · small-cnn@0.5 · seed 1`."""
    spec = run.get("spec", {})
    width = spec.get("model", {}).get("width")
    model = run.get("model") or spec.get("model", {}).get("name", "?")
    parts = [run.get("method") or "?", f"{model}@{width_text(width)}" if width is not None else model]
    if spec.get("seed") is not None:
        parts.append(f"seed {spec['seed']}")
    return " · ".join(parts)


def primary_value(run: dict[str, Any]) -> float | None:
    key = run.get("primary_metric")
    return run.get("summary", {}).get(key) if key else None


def runs_frame(runs: list[dict[str, Any]], experiment_names: dict[int, str]) -> pd.DataFrame:
    """One row per run, with the task's primary metric and its latest value."""
    rows = [{c: row[c] for c in RUN_COLUMNS} for row in (run_row(r, experiment_names) for r in runs)]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def mapping_frame(values: dict[str, Any], key: str = "key", value: str = "value") -> pd.DataFrame:
    """A flat {name: value} dict as a two-column table, sorted by name."""
    return pd.DataFrame(sorted(values.items()), columns=[key, value])


# ------------------------------------------------------------ research table: chosen columns, compare

EXTRA_COLUMNS = ["tags", "notes"]
BASE_COLUMNS = [*RUN_COLUMNS, *EXTRA_COLUMNS]
# What a fresh runs page shows; "metric" and "value" are the task's primary metric and its latest value.
DEFAULT_COLUMNS = [
    "id",
    "name",
    "experiment",
    "task",
    "model",
    "width",
    "method",
    "status",
    "progress",
    "metric",
    "value",
    "created",
]
METRIC_PREFIX = "metric:"


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


def column_sources(columns: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every column the chooser offers, as {label: (source, path)}: the built-in columns, spec paths
    (model.width), hparams paths (hparams.lr) and metric keys (test_top1, or metric:<key> if the key is
    already a column's name). `columns` is GET /runs/columns."""
    sources: dict[str, tuple[str, str]] = {name: ("base", name) for name in BASE_COLUMNS}
    for path in columns.get("spec_fields", []):
        sources.setdefault(path, ("spec", path))
    for path in columns.get("hparam_fields", []):
        sources.setdefault(path, ("hparams", path.removeprefix("hparams.")))
    for key in columns.get("metric_keys", []):
        label = key if key not in sources else f"{METRIC_PREFIX}{key}"
        sources.setdefault(label, ("metric", key))
    return sources


def source_of(label: str, sources: dict[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """Where a column's values come from; a label the chooser does not know (an old saved view) is read as a
    built-in column, metric:<key>, hparams.<path> or a spec path."""
    if sources and label in sources:
        return sources[label]
    if label in BASE_COLUMNS:
        return ("base", label)
    if label.startswith(METRIC_PREFIX):
        return ("metric", label.removeprefix(METRIC_PREFIX))
    if label.startswith("hparams."):
        return ("hparams", label.removeprefix("hparams."))
    return ("spec", label)


def _cell(value: Any) -> Any:
    # Lists (teachers, options) as text, so every column stays one Arrow type.
    return ", ".join(map(str, value)) if isinstance(value, list) else value


def run_row(run: dict[str, Any], experiment_names: dict[int, str]) -> dict[str, Any]:
    """The built-in columns of one run."""
    spec = run.get("spec", {})
    return {
        "id": run["id"],
        "name": run_name(run),
        "experiment": experiment_names.get(run["experiment_id"], f"#{run['experiment_id']}"),
        "status": run["status"],
        "progress": run.get("progress", ""),  # filled in by the page for running runs (it costs a request)
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
        "tags": ", ".join(run.get("tags", [])),
        "notes": run.get("notes", ""),
    }


def research_frame(
    runs: list[dict[str, Any]],
    experiment_names: dict[int, str],
    columns: list[str],
    sources: dict[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per run with exactly the chosen columns, spec/hparams flattened and metrics from the summary."""
    rows = []
    for run in runs:
        base = run_row(run, experiment_names)
        spec, hparams = flatten(run.get("spec", {})), flatten(run.get("hparams", {}))
        row = {}
        for label in columns:
            kind, path = source_of(label, sources)
            if kind == "base":
                row[label] = base.get(path)
            elif kind == "metric":
                row[label] = run.get("summary", {}).get(path)
            else:
                row[label] = _cell((hparams if kind == "hparams" else spec).get(path))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def diff_text(value: Any) -> str:
    """A spec value as table text: strings as they are, anything else as JSON, a missing path as ''."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def spec_diff_frame(spec_diff: dict[str, dict[str, Any]], run_ids: list[int]) -> pd.DataFrame:
    """The differing paths (rows) by run (columns "#<id>"), from GET /runs/compare."""
    rows = [
        {"field": path, **{f"#{i}": diff_text(values.get(str(i))) for i in run_ids}}
        for path, values in spec_diff.items()
    ]
    return pd.DataFrame(rows, columns=["field", *(f"#{i}" for i in run_ids)])


def compare_summary_frame(runs: list[dict[str, Any]], experiment_names: dict[int, str]) -> pd.DataFrame:
    """One row per run: what it is, then its latest value of every metric any of the runs logged."""
    keys = sorted({k for run in runs for k in run.get("summary", {})})
    info = ["id", "experiment", "status", "task", "model", "width", "method", "seed"]
    rows = []
    for run in runs:
        base = run_row(run, experiment_names)
        rows.append({**{c: base[c] for c in info}, **{k: run.get("summary", {}).get(k) for k in keys}})
    return pd.DataFrame(rows, columns=[*info, *keys])

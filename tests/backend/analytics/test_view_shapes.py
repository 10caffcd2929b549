"""The typed views answer with exactly the fields (names, order, explicit nulls) the untyped dicts had, which
the dashboard reads; values are checked in tests/backend/test_analytics_api.py."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import finish, make_grid

HEADER = ["grid_id", "grid", "task", "metric", "goal", "ensemble_score"]
REPORT = ["grid_id", "grid", "task", "metric", "goal", "selection", "split", "seeds", "ensemble_score"]
REPORT += ["teachers", "rows", "baselines", "val_metric", "kd_selection", "note"]
ROW = [
    "group",
    "method",
    "method_name",
    "model",
    "ensemble",
    "generator",
    "n",
    "seeds_total",
    "values",
    "mean",
    "std",
]
ROW += ["ci_low", "ci_high", "val_mean", "teacher", "gap", "gap_ci_low", "gap_ci_high", "kd_reference"]
ROW += ["gap_reduction_vs_kd", "gap_reduction_ci_low", "gap_reduction_ci_high", "h_hat", "comparisons"]
ENSEMBLE = ["ensemble", "members", "succeeded", "member_mean", "score"]
TOTALS = ["cpu_seconds", "gpu_seconds", "cpu_hours", "gpu_hours"]

SHAPES: dict[str, dict[str, list[str]]] = {
    "gap": {"": ["scope", "sections"], "sections": [*REPORT, "tables"], "sections.rows": [*ROW, "kd_group"]},
    "entropy": {
        "": ["scope", "sections"],
        "sections": [*HEADER, "points"],
        "sections.points": [
            "group", "method", "method_label", "model", "study", "label", "params", "swept", "ensemble",
            "teacher_score", "transfer_set", "n", "h_hat", "h_hat_std", "mean", "std", "runs",
        ],
        "sections.points.runs": ["run_id", "seed", "h_hat", "value"],
    },
    "student-size": {
        "": ["scope", "sections"],
        "sections": [*HEADER, "error_metric", "teacher_error", "points"],
        "sections.points": [
            "group", "method", "model", "model_label", "precision", "width", "n", "error", "error_std", "params",
            "macs", "binary_macs",
        ],
    },
    "lineage": {
        "": ["scope", "nodes", "edges", "stale"],
        "nodes": [
            "id", "cell", "role", "grid_id", "experiment_id", "method", "model", "status", "attempt", "metric",
            "value", "started_at", "finished_at", "external", "stale", "stale_reasons",
        ],
        "edges": ["source", "target", "kind", "stale"],
    },
    "cost": {
        "": ["scope", "runs", "grids", "total", "methods", "note"],
        "runs": [
            "run_id", "grid_id", "cell", "method", "model", "status", "attempt", "queue", "device", "seconds",
            "source", "cpu_seconds", "gpu_seconds", "running_for_s",
        ],
        "grids": ["grid_id", "grid", "runs", *TOTALS],
        "total": ["runs", *TOTALS],
        "methods": [
            "grid_id", "grid", "group", "method", "model", "metric", "goal", "device", "unit", "n", "mean",
            "erm_mean", "gain", "hours_per_run", "dependency_hours_per_run", "charged_hours_per_run",
            "total_hours", "gain_per_hour",
        ],
    },
}  # fmt: skip


def _objects(body: Any, path: str) -> list[dict[str, Any]]:
    """The objects at a dotted path, through lists."""
    found = [body]
    for part in filter(None, path.split(".")):
        found = [
            item for obj in found for item in (obj[part] if isinstance(obj[part], list) else [obj[part]])
        ]
    return found


def test_views_and_report_keep_every_field_in_order(api: TestClient) -> None:
    definition = {
        "name": "g",
        "task": "digits",
        "teachers": [{"name": "ens", "members": 1, "model": {"name": "small-cnn"}}],
        "students": {
            "models": [{"name": "small-cnn"}],
            "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
        },
    }
    grid, cells = make_grid(api, definition)
    finish(api, cells["teacher/ens/0"], metrics={"test_top1": 95.0})
    finish(
        api,
        cells["student/kd/small-cnn@1/seed=0"],
        metrics={"test_top1": 90.0, "h_hat": 3.0, "wall_time_s": 9.0},
    )
    for view, shape in SHAPES.items():
        body = api.get(f"/api/v1/analytics/{view}", params={"grid_id": grid["id"]}).json()
        for path, keys in shape.items():
            objects = _objects(body, path)
            assert objects, (view, path)
            assert all(list(obj) == keys for obj in objects), (view, path, objects[0])
        assert body["scope"] == {"kind": "grid", "id": grid["id"], "name": "g"}
    report = api.get(f"/api/v1/grids/{grid['id']}/report").json()
    assert list(report) == REPORT and [list(r) for r in report["rows"]] == [ROW, ROW]
    assert [list(t) for t in report["teachers"]] == [ENSEMBLE]
    # Unfinished work reads as explicit nulls, never as missing fields.
    [erm] = [r for r in report["rows"] if r["method"] == "erm"]
    assert erm["mean"] is None and erm["gap"] is None and erm["gap_reduction_vs_kd"] is None
    # Timestamps as every other response writes them (UTC, ISO 8601 with Z).
    lineage = api.get("/api/v1/analytics/lineage", params={"grid_id": grid["id"]}).json()
    teacher = next(n for n in lineage["nodes"] if n["id"] == cells["teacher/ens/0"])
    assert teacher["finished_at"].endswith("Z") and teacher["started_at"].endswith("Z")

"""Compare's grouping, band and parallel-coordinates shaping, on hand-made runs (no Streamlit, no API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard.groups import aggregate, field_options, group_runs, parallel_dimensions, x_values


def _run(run_id: int, method: str, width: float, seed: int, **summary: float) -> dict[str, Any]:
    spec = {"task": "digits", "model": {"name": "small-cnn", "width": width}, "method": {"name": method}}
    return {"id": run_id, "spec": {**spec, "seed": seed}, "hparams": {"lr": 0.1}, "summary": summary}


def test_groups_follow_any_field_and_varying_fields_come_first() -> None:
    runs = [_run(3, "kd", 0.5, 1), _run(1, "kd", 0.5, 0), _run(2, "erm", 0.25, 0)]
    assert field_options(runs)[:3] == ["method.name", "model.width", "seed"]
    assert field_options(runs)[-1] == "hparams.lr"
    groups = group_runs(runs, ["method.name", "model.width"])
    assert list(groups) == ["method.name=erm · model.width=0.25", "method.name=kd · model.width=0.5"]
    assert [r["id"] for r in groups["method.name=kd · model.width=0.5"]] == [1, 3]
    assert list(group_runs(runs, ["teachers"])) == ["teachers=–"]  # a field no run has: one group


def test_steps_one_run_alone_logged_have_no_spread() -> None:
    band = aggregate([([1, 2], [1, 2], [10.0, 20.0]), ([1, 2, 3], [1, 2, 3], [14.0, 24.0, 30.0])], "std")
    assert band.x == [1, 2, 3] and band.mean == [12.0, 22.0, 30.0] and band.n == [2, 2, 1]
    assert band.high[0] - band.mean[0] == pytest.approx(8**0.5)
    assert band.low[2] == band.high[2] == 30.0
    ci = aggregate([([1], [1], [10.0]), ([1], [1], [14.0]), ([1], [1], [12.0])], "ci")
    assert ci.high[0] - ci.mean[0] == pytest.approx(4.303 * 2 / 3**0.5, rel=1e-3)


def test_wall_time_x_values() -> None:
    points = [{"step": 1, "wall_time": 600.0}, {"step": 2, "wall_time": 720.0}, {"step": 3}]
    assert x_values(points, "step") == [1, 2, 3]
    assert x_values(points, "elapsed") == [0.0, 2.0, None]
    assert x_values(points, "clock")[0] == datetime(1970, 1, 1, 0, 10, tzinfo=UTC)
    band = aggregate([([1, 2], x_values(points[:2], "clock"), [1.0, 2.0])], "std")
    assert band.x == x_values(points[:2], "clock")


def test_parallel_dimensions_skip_runs_without_the_metric_and_code_categories() -> None:
    runs = [
        _run(1, "kd", 0.5, 0, test_top1=80.0),
        _run(2, "erm", 0.25, 0, test_top1=70.0),
        _run(3, "ls", 1, 0),
    ]
    diff = {
        "method.name": {"1": "kd", "2": "erm", "3": "ls"},
        "model.width": {"1": 0.5, "2": 0.25, "3": 1},
        "seed": {"1": 0, "2": 0, "3": 1},  # differs only through run 3, which has no metric
    }
    shown, dims = parallel_dimensions(runs, diff, "test_top1")
    assert shown == [1, 2]
    assert [d.label for d in dims] == ["method.name", "model.width", "test_top1"]
    assert dims[0].ticks == ["erm", "kd"] and dims[0].values == [1.0, 0.0]
    assert dims[1].ticks is None and dims[1].values == [0.5, 0.25]
    assert dims[2].values == [80.0, 70.0]

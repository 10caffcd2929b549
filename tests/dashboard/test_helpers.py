"""The dashboard's pure helpers: error-to-field mapping, metric grouping, table shaping, status colours."""

from __future__ import annotations

import pytest

from dashboard.charts import curve_figure, group_metric_keys
from dashboard.form_errors import GENERAL, errors_by_field, field_for_loc
from dashboard.tables import runs_frame
from dashboard.ui import STATUS_BADGE, STATUS_CELL, status_cell_style


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (["body", "spec", "model", "width"], "width"),
        (["body", "spec", "model", "name"], "model"),
        (["body", "spec", "model", "options", "depth"], "model"),
        (["body", "spec", "method", "name"], "method"),
        (["body", "spec", "method", "temperature"], "method_temperature"),
        (["body", "spec", "teachers", 0], "teachers"),
        (["body", "spec", "task"], "task"),
        (["body", "spec", "recipe"], "recipe"),
        (["body", "spec", "overrides", "lr"], "recipe"),
        (["body", "spec", "seed"], "seed"),
        (["body", "experiment_id"], "experiment"),
        (["body", "name"], "experiment"),
        (["body"], GENERAL),
        (["query", "sort"], GENERAL),
    ],
)
def test_field_for_loc(loc: list, field: str) -> None:
    assert field_for_loc(loc) == field


def test_errors_by_field_keeps_the_api_messages() -> None:
    errors = [
        {"loc": ["body", "spec", "model", "width"], "msg": "Input should be greater than 0"},
        {"loc": ["body", "spec", "seed"], "msg": "Input should be greater than or equal to 0"},
        {"loc": ["body", "spec", "model", "width"], "msg": "second"},
    ]
    assert errors_by_field(errors) == {
        "width": ["Input should be greater than 0", "second"],
        "seed": ["Input should be greater than or equal to 0"],
    }


def test_group_metric_keys_puts_each_unit_on_its_own_chart() -> None:
    keys = ["train_loss", "test_loss", "test_top1", "test_top5", "train_acc", "lr", "entropy"]
    loss, accuracy, other = group_metric_keys(keys)
    assert loss == ["train_loss", "test_loss"]
    assert accuracy == ["test_top1", "test_top5", "train_acc"]
    assert other == ["lr", "entropy"]


def test_curve_figure_has_one_trace_per_key() -> None:
    fig = curve_figure({"a": [{"step": 1, "value": 2.0}], "b": []}, "Loss")
    assert [t.name for t in fig.data] == ["a", "b"]
    assert list(fig.data[0].x) == [1]


def test_runs_frame_shows_the_primary_metric_value() -> None:
    run = {
        "id": 3,
        "experiment_id": 1,
        "status": "succeeded",
        "task": "digits",
        "model": "small-cnn",
        "method": "kd",
        "spec": {"model": {"width": 0.5}, "seed": 2},
        "teachers": [1, 2],
        "attempt": 1,
        "primary_metric": "test_top1",
        "summary": {"test_top1": 91.5, "train_loss": 0.1},
        "created_at": "2026-01-01T00:00:00Z",
        "finished_at": None,
    }
    [row] = runs_frame([run], {1: "exp"}).to_dict("records")
    assert (row["experiment"], row["metric"], row["value"], row["teachers"]) == (
        "exp",
        "test_top1",
        91.5,
        "#1, #2",
    )
    assert row["width"] == 0.5 and row["seed"] == 2


def test_every_status_has_a_colour() -> None:
    statuses = {"waiting", "queued", "running", "succeeded", "failed", "cancelled"}
    assert set(STATUS_BADGE) == set(STATUS_CELL) == statuses
    assert "background-color" in status_cell_style("failed")
    assert status_cell_style("unknown") == ""

"""Chart helpers: which metrics a comparison charts first, run colours, legend grouping, ticks, kept zoom."""

from __future__ import annotations

import colorsys

import pytest

from dashboard.charts import (
    UIREVISION,
    default_chart_keys,
    group_metric_keys,
    run_colour,
    runs_figure,
    smooth,
)
from dashboard.tables import human_bytes, run_name, width_text


def test_default_chart_keys_are_the_primary_metric_and_losses_not_the_alphabet() -> None:
    keys = sorted(
        [
            "binary_macs",
            "epoch_seconds",
            "h_hat",
            "lr",
            "macs",
            "params",
            "test_top1",
            "train_loss",
            "test_loss",
            "kd_loss",
        ]
    )
    assert default_chart_keys(["test_top1", "test_top1"], keys) == [
        "test_top1",
        "kd_loss",
        "test_loss",
        "train_loss",
    ]
    # A primary metric no run logged yet is left out; several tasks contribute their own.
    assert default_chart_keys(["angular_error", None], ["train_loss"]) == ["train_loss"]
    assert default_chart_keys(["a", "b"], ["a", "b", "lr"]) == ["a", "b"]


def test_system_metrics_are_never_learning_curves_or_defaults() -> None:
    keys = [
        "system/cpu_percent",
        "system/rss_mb",
        "system/gpu_loss_like",
        "system/top1",
        "test_top1",
        "train_loss",
    ]
    assert group_metric_keys(keys) == (["train_loss"], ["test_top1"], [])
    assert default_chart_keys(["system/rss_mb", "test_top1"], keys) == ["test_top1", "train_loss"]


def _saturation_lightness(colour: str) -> tuple[float, float]:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    _, lightness, saturation = colorsys.rgb_to_hls(r, g, b)
    return saturation, lightness


def test_run_colours_are_stable_distinct_and_never_grey() -> None:
    colours = [run_colour(i) for i in range(1, 41)]
    assert colours == [run_colour(i) for i in range(1, 41)]  # the same run, the same colour
    assert len(set(colours)) == 40  # no cycle of 10 (or of any length within 40 runs)
    for colour in colours:
        saturation, lightness = _saturation_lightness(colour)
        assert saturation > 0.5 and 0.3 < lightness < 0.65, colour


def _run(run_id: int, method: str) -> dict:
    return {
        "id": run_id,
        "method": method,
        "model": "small-cnn",
        "spec": {"model": {"width": 0.5}, "seed": 1},
    }


def test_runs_figure_groups_by_method_keeps_zoom_and_formats_ticks() -> None:
    runs = [_run(3, "kd"), _run(1, "erm"), _run(2, "kd"), _run(4, "erm")]
    points = [{"step": 1, "value": 1.08e-8}, {"step": 2, "value": 2e-8}]
    histories = {1: points, 2: points, 3: points}  # run 4 never logged this key
    fig = runs_figure(runs, histories, {r["id"]: f"#{r['id']}" for r in runs}, "h_hat")
    assert [t.name for t in fig.data] == ["#1", "#2", "#3"]
    assert [t.legendgroup for t in fig.data] == ["erm", "kd", "kd"]
    assert fig.data[1].line.color == run_colour(2)
    assert fig.layout.uirevision == UIREVISION
    assert fig.layout.yaxis.tickformat == ".4~g" and fig.layout.yaxis.exponentformat == "e"


def test_run_names_read_like_people_say_them() -> None:
    run = {"method": "kd", "model": "small-cnn", "spec": {"model": {"width": 0.5}, "seed": 1}}
    assert run_name(run) == "kd · small-cnn@0.5 · seed 1"
    assert width_text(1.0) == "1" and width_text(0.25) == "0.25" and width_text(None) == "–"


def test_byte_sizes_read_like_people_say_them() -> None:
    assert [human_bytes(n) for n in (None, 0, 1023, 1536, 5 * 1024**2, 3 * 1024**3)] == [
        "–",
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]


def test_smoothing_is_a_debiased_moving_average_drawn_over_the_raw_curve() -> None:
    assert smooth([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    smoothed = smooth([10.0, 10.0, 10.0], 0.9)
    assert smoothed == pytest.approx([10.0, 10.0, 10.0])  # debiased: a constant stays constant
    assert smooth([0.0, 10.0], 0.5) == pytest.approx([0.0, 10 * 0.5 / 0.75])
    runs = [_run(1, "kd")]
    points = {1: [{"step": s, "value": v} for s, v in enumerate((1.0, 3.0, 2.0), start=1)]}
    fig = runs_figure(runs, points, {1: "#1"}, "loss", smoothing=0.6, log_y=True)
    raw, line = fig.data
    assert list(raw.y) == [1.0, 3.0, 2.0] and raw.showlegend is False and raw.opacity == 0.25
    assert list(line.y) == pytest.approx(smooth([1.0, 3.0, 2.0], 0.6)) and line.name == "#1"
    assert fig.layout.yaxis.type == "log"

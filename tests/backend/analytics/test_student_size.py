"""Reading a primary metric as an error goes by the metric, not by what kind of task reports it."""

from __future__ import annotations

from backend.analytics.student_size import ErrorScale, error_scale


def test_known_metrics_keep_their_chart_labels() -> None:
    assert error_scale("test_top1", "max") == ErrorScale("top-1 error (%)", complement=True)
    assert error_scale("test_angular_error", "min") == ErrorScale("angular error (°)", complement=False)


def test_a_new_metric_to_minimise_is_its_own_error() -> None:
    # e.g. a depth-estimation regression task: nothing assumes regression means gaze
    assert error_scale("test_rmse", "min") == ErrorScale("test_rmse", complement=False)


def test_a_new_metric_to_maximise_reads_as_a_percentage() -> None:
    assert error_scale("test_top5", "max") == ErrorScale("100 - test_top5 (%)", complement=True)

"""`xclab rerun --verify` wording; the command itself runs against real workers in
tests/e2e/test_reproducibility.py."""

from __future__ import annotations

from cli.rerun import describe


def test_a_divergence_names_the_epoch_the_metric_and_the_environment_fields() -> None:
    report = {
        "a": 4,
        "b": 9,
        "identical": False,
        "compared_points": 12,
        "first_divergence": {"step": 2, "key": "train_loss", "a": 0.5, "b": 0.5000000000000001},
        "only_in_a": [],
        "only_in_b": ["h_hat@1"],
        "problems": [],
        "environment_diff": {"threads": {"a": 1, "b": 2}, "versions.torch": {"a": "2.4", "b": "2.5"}},
    }
    text = describe(report, "succeeded")
    assert "NOT identical: run 9 (succeeded) did not reproduce run 4" in text
    assert "first divergence: epoch 2, train_loss: 0.5 vs 0.5000000000000001" in text
    assert "only in run 9: h_hat@1" in text
    assert "threads: 1 -> 2" in text and "versions.torch: '2.4' -> '2.5'" in text


def test_an_identical_repeat_says_so() -> None:
    report = {
        "a": 1,
        "b": 2,
        "identical": True,
        "compared_points": 30,
        "first_divergence": None,
        "only_in_a": [],
        "only_in_b": [],
        "problems": [],
        "environment_diff": {"host": {"a": "x", "b": "y"}},
    }
    text = describe(report, "succeeded")
    assert text.startswith("identical: run 2 reproduced run 1 exactly (30 metric points)")
    assert "host: 'x' -> 'y'" in text

"""`xclab demo`'s pieces that shape what it prints and writes: which grids it runs, the baselines it asks for,
the headline comparison lines and the results document."""

from __future__ import annotations

from typing import Any

from cli.stack import DEMO_GRIDS, _available, _baselines, _results_document, headline


def _comparison(baseline: str, group: str, mean: float, low: float, high: float, better: int) -> dict:
    return {
        "baseline": baseline, "baseline_group": group, "n": 8, "mean": mean, "ci_low": low, "ci_high": high,
        "t_p_value": 0.01, "better": better, "worse": 8 - better, "sign_p_value": 0.0078125 if better == 8 else 0.7,
        "significant": low > 0 or high < 0,
    }  # fmt: skip


def _row(method: str, comparisons: list[dict], kd_reference: str | None) -> dict[str, Any]:
    return {
        "group": f"student/{method}/small-cnn@0.5", "method": method, "model": "small-cnn@0.5",
        "ensemble": "ensemble", "n": 8, "seeds_total": 8, "mean": 90.0, "std": 1.0, "teacher": 95.0, "gap": 5.0,
        "gap_reduction_vs_kd": None, "h_hat": None, "kd_reference": kd_reference, "comparisons": comparisons,
    }  # fmt: skip


REPORT = {
    "grid_id": 1, "grid": "digits-evidence", "task": "digits", "metric": "test_top1", "goal": "max",
    "selection": "last-epoch", "split": "test", "seeds": list(range(8)), "ensemble_score": 95.0, "teachers": [],
    "note": "", "rows": [
        _row("erm", [_comparison("kd", "student/kd[temperature=4]/small-cnn@0.5", -1.0, -2.0, 0.1, 2)],
             "student/kd[temperature=4]/small-cnn@0.5"),
        _row("kd[temperature=2]", [_comparison("erm", "student/erm/small-cnn@0.5", 1.0, 0.2, 1.8, 7)],
             "student/kd[temperature=4]/small-cnn@0.5"),
        _row("kd[temperature=4]", [_comparison("erm", "student/erm/small-cnn@0.5", 1.0, -0.1, 2.0, 6)],
             "student/kd[temperature=4]/small-cnn@0.5"),
        _row("xcl-mix", [_comparison("kd", "student/kd[temperature=4]/small-cnn@0.5", 2.1, 0.8, 3.4, 8)],
             "student/kd[temperature=4]/small-cnn@0.5"),
    ],
}  # fmt: skip


def test_headline_has_one_line_per_comparison_and_skips_kd_temperatures_not_chosen() -> None:
    lines = headline(REPORT)
    assert lines[0].startswith("digits-evidence (digits): test_top1")
    assert lines[1:] == [
        "erm − kd[temperature=4]: -1.00 points, 95 % CI [-2.00, +0.10], 2/8 seeds better, sign-test p = 0.700 "
        "(not significant: the interval covers 0)",
        "kd[temperature=4] − erm: +1.00 points, 95 % CI [-0.10, +2.00], 6/8 seeds better, sign-test p = 0.700 "
        "(not significant: the interval covers 0)",
        "xcl-mix − kd[temperature=4]: +2.10 points, 95 % CI [+0.80, +3.40], 8/8 seeds better, sign-test p = 0.008",
    ]


def test_demo_runs_the_evidence_grids_and_skips_those_not_shipped() -> None:
    assert DEMO_GRIDS.split(",")[0] == "digits-evidence"
    assert _available("digits-evidence, no-such-grid") == ["digits-evidence"]


def test_demo_adds_kd_at_t1_as_a_baseline_only_where_the_grid_has_it() -> None:
    assert _baselines(REPORT) == ["kd", "erm"]
    with_t1 = {**REPORT, "rows": [*REPORT["rows"], _row("kd[temperature=1]", [], None)]}
    assert _baselines(with_t1) == ["kd", "erm", "kd[temperature=1]"]


def test_demo_compares_with_each_erm_variant_where_erm_is_swept() -> None:
    rows = [_row(m, [], None) for m in ("erm[loss=mse]", "erm[loss=nll]", "kd", "xcl-mix")]
    assert _baselines({**REPORT, "rows": rows}) == ["kd", "erm[loss=mse]", "erm[loss=nll]"]
    assert _baselines({**REPORT, "rows": [_row("erm", [], None)]}) == ["erm"]


def test_results_document_names_its_command_and_holds_the_lines_and_tables() -> None:
    text = _results_document("digits-evidence", ["| table |"], [headline(REPORT)], 2)
    assert "xclab demo --grids digits-evidence --exit-when-done --results docs/results.md" in text
    assert "xcl-mix − kd[temperature=4]: +2.10 points" in text and "| table |" in text
    assert "minutes" not in text  # no timings: regenerating the file on one machine gives the same file
    assert "(not significant: the interval covers 0)" in text
    significant, not_significant = text.split("Not significant")[0], text.split("Not significant")[1]
    assert "- xcl-mix − kd[temperature=4]: +2.10 points" in significant
    assert "- erm − kd[temperature=4]: -1.00 points" in not_significant.split("## Tables")[0]

"""The A/B benchmark serves each checkout's own code (its figures are printed, never asserted)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from benchmarks import tracking_ab

REPO = Path(__file__).resolve().parents[2]


def test_each_figure_is_measured_on_a_server_of_the_given_checkout() -> None:
    figures = tracking_ab.measure(REPO, "sqlite", "", runs=3, points=3, searches=2, batch_count=1)
    assert set(figures) == set(tracking_ab.FIGURES) and all(v > 0 for v in figures.values())


def test_the_baseline_checkout_is_the_code_that_serves(tmp_path: Path) -> None:
    """A copy whose server cannot start fails the measurement: the copy's code, not this one's, was run."""
    copy = tmp_path / "baseline"
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    (copy / "cli" / "__main__.py").write_text("raise SystemExit('the baseline copy ran')\n")
    try:
        tracking_ab.measure(copy, "sqlite", "", runs=1, points=1, searches=1, batch_count=1)
    except Exception as exc:  # the migration step reports the copy's exit message
        assert "the baseline copy ran" in str(exc)
    else:
        raise AssertionError("the baseline copy's server started")

"""`xclab grid ...`."""

from __future__ import annotations

from tests.cli.conftest import plain_env, xclab


def test_grid_builtin_lists_the_paper_grids() -> None:
    result = xclab(plain_env(), "grid", "builtin")
    assert result.returncode == 0, result.stderr
    assert "digits-paper" in result.stdout and "synthetic-gaze-paper" in result.stdout


def test_grid_submit_names_an_unknown_builtin() -> None:
    result = xclab(plain_env(), "grid", "submit", "builtin:no-such-grid")
    assert result.returncode == 2
    assert "no built-in grid 'no-such-grid'" in result.stderr and "digits-paper" in result.stderr

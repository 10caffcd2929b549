"""The `xclab` command as a user runs it: real processes against a live API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.support import Stack, digits_spec


def _xclab(
    stack_env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**stack_env, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "xclab", *args], env=env, capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_submit_wait_and_list(live_stack: Stack, tmp_path: Path) -> None:
    spec_file = tmp_path / "run.yaml"
    spec_file.write_text(yaml.safe_dump({"experiment": "cli", "spec": digits_spec(epochs=2, seed=7)}))
    done = _xclab(live_stack.env, "submit", str(spec_file), "--wait")
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    listed = _xclab(live_stack.env, "runs", "--status", "succeeded")
    assert listed.returncode == 0 and "test_top1=" in listed.stdout


def test_submit_reports_field_errors(live_stack: Stack, tmp_path: Path) -> None:
    spec_file = tmp_path / "bad.json"
    spec_file.write_text('{"task": "digits", "model": {"name": "small-cnn", "width": -1}}')
    result = _xclab(live_stack.env, "submit", str(spec_file))
    assert result.returncode == 1
    assert "spec.model.width" in result.stdout and "greater than 0" in result.stdout


def test_grid_builtin_lists_the_paper_grids(live_stack: Stack) -> None:
    result = _xclab(live_stack.env, "grid", "builtin")
    assert (
        result.returncode == 0 and "digits-paper" in result.stdout and "synthetic-gaze-paper" in result.stdout
    )


def test_train_locally_without_a_server(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(digits_spec(epochs=2, method={"name": "ls", "epsilon": 0.1})))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "xclab",
            "train",
            str(spec_file),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", **_plain_env()},
    )
    assert result.returncode == 0, result.stderr
    assert "test_top1" in result.stdout and (tmp_path / "out" / "model.pt").exists()


def _plain_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("XCL_")}

"""`xclab submit | runs | train`."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.cli.conftest import plain_env, xclab
from tests.support import Stack, digits_spec


def test_submit_wait_and_list(live_stack: Stack, tmp_path: Path) -> None:
    spec_file = tmp_path / "run.yaml"
    spec_file.write_text(yaml.safe_dump({"experiment": "cli", "spec": digits_spec(epochs=2, seed=7)}))
    done = xclab(live_stack.env, "submit", str(spec_file), "--wait")
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    listed = xclab(live_stack.env, "runs", "--status", "succeeded")
    assert listed.returncode == 0 and "test_top1=" in listed.stdout


def test_submit_reports_field_errors(live_stack: Stack, tmp_path: Path) -> None:
    spec_file = tmp_path / "bad.json"
    spec_file.write_text('{"task": "digits", "model": {"name": "small-cnn", "width": -1}}')
    result = xclab(live_stack.env, "submit", str(spec_file))
    assert result.returncode == 1
    assert "spec.model.width" in result.stdout and "greater than 0" in result.stdout


def test_train_locally_without_a_server(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(digits_spec(epochs=2, method={"name": "ls", "epsilon": 0.1})))
    result = xclab(plain_env(), "train", str(spec_file), "--out", str(tmp_path / "out"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "test_top1" in result.stdout and (tmp_path / "out" / "model.pt").exists()

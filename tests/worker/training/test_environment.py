"""Each run pins its threads and deterministic algorithms, records what it ran on, and leaves its per-sample
test results for paired tests; two runs of one spec and seed are bit-identical whatever threads the process
had before."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch

import worker.training.data.gaze_geometry  # noqa: F401 (registers the gaze error)
from worker.training.evaluation import Scorer
from worker.training.trainer import Hooks, train
from xclab.catalog import TASKS
from xclab.spec import RunSpec, resolve_hparams

TIMINGS = {"epoch_seconds", "samples_per_s", "wall_time_s", "peak_memory_mb"}


class EnvRecorder(Hooks):
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def on_environment(self, environment: dict[str, Any]) -> None:
        self.reports.append(json.loads(json.dumps(environment)))  # what the API would store


def _run(tmp: Path, name: str, process_threads: int) -> tuple[Any, EnvRecorder, dict[str, Any]]:
    spec = RunSpec.model_validate(
        {
            "task": "digits",
            "model": {"name": "small-cnn", "width": 0.25},
            "method": {"name": "mixup"},
            "seed": 2,
            "epochs": 2,
        }
    )
    hparams = resolve_hparams(spec)
    torch.set_num_threads(process_threads)  # whatever the worker process had: the run pins its own
    hooks = EnvRecorder()
    return train(spec, hparams, tmp / name, hooks=hooks, device="cpu"), hooks, hparams


def test_a_run_records_its_environment_and_predictions_and_repeats_bit_for_bit(tmp_path: Path) -> None:
    threads_before = torch.get_num_threads()
    try:
        first, hooks, hparams = _run(tmp_path, "a", process_threads=2)
        second, _, _ = _run(tmp_path, "b", process_threads=1)
    finally:
        torch.set_num_threads(threads_before)
    [env] = hooks.reports
    assert env["threads"] == 1 and env["device"] == "cpu"
    # What picks the CPU kernels, hence the last bits: recorded so reruns on other machines can be told apart.
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and env["device_name"]
    assert env["determinism"]["deterministic_algorithms"] and env["determinism"]["guaranteed"]
    assert env["versions"]["torch"] == torch.__version__ and env["versions"]["numpy"]
    assert len(env["data_sha256"]) == 64
    assert env["hparams_sha256"] != hashlib.sha256(b"{}").hexdigest()
    assert first.environment["hparams_sha256"] == second.environment["hparams_sha256"]
    assert first.environment["data_sha256"] == second.environment["data_sha256"]

    strip = [{k: v for k, v in h.items() if k not in TIMINGS} for h in first.history]
    assert strip == [{k: v for k, v in h.items() if k not in TIMINGS} for h in second.history]
    a, b = (torch.load(r.model_path, weights_only=True)["model"] for r in (first, second))
    assert all(torch.equal(a[k], b[k]) for k in a)

    predictions = json.loads(first.predictions_path.read_text())
    assert set(predictions) == {"targets", "predictions"}
    targets, preds = predictions["targets"], predictions["predictions"]
    assert len(targets) == len(preds) > 100 and all(isinstance(p, int) for p in preds)
    top1 = 100.0 * sum(t == p for t, p in zip(targets, preds, strict=True)) / len(targets)
    assert top1 == pytest.approx(first.final_metrics["test_top1"], abs=1e-4)


def test_regression_predictions_are_per_sample_primary_errors() -> None:
    scorer = Scorer(TASKS["synthetic-gaze"])
    y = torch.tensor([[0.0, 0.0], [0.1, -0.2]])
    outputs = torch.tensor([[0.0, 0.0, 0.5], [0.1, -0.1, 0.5]])  # mean (pitch, yaw), then log variance
    errors = scorer.per_sample(outputs, y)["errors"]
    assert len(errors) == 2 and errors[0] == pytest.approx(0.0, abs=1e-3) and errors[1] > 1.0  # degrees
    assert scorer.score(outputs, y)["test_angular_error"] == pytest.approx(sum(errors) / 2, rel=1e-5)

"""Same spec and seed, same numbers: a digits run repeated with `xclab rerun --verify` on a worker with another
concurrency and thread setting (and a second run beside it) reproduces every metric exactly; the run records
its environment and leaves its per-sample test predictions."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import xclab
from tests.support import Stack, digits_spec, start_process, start_stack


def _worker(stack: Stack, name: str, concurrency: int, threads: int) -> None:
    env = {**stack.env, "XCL_TORCH_THREADS": str(threads)}
    args = ["worker", "--queues", "cpu", "--concurrency", str(concurrency)]
    stack.processes.append(start_process(name, args, env, stack.home / "logs"))


def _submit(stack: Stack, exp: int, seed: int) -> int:
    spec = digits_spec(seed=seed, epochs=2, model={"name": "small-cnn", "width": 0.25})
    with stack.client() as client:
        response = client.post("/runs", json={"experiment_id": exp, "spec": spec})
        assert response.status_code == 202, response.text
        return response.json()["id"]


def test_a_rerun_on_another_worker_setup_is_identical(tmp_path: Path) -> None:
    stack = start_stack(tmp_path / "stack")
    try:
        with stack.client() as client:
            exp = client.post("/experiments", json={"name": "repro"}).json()["id"]
        _worker(stack, "solo", concurrency=1, threads=1)
        first = _submit(stack, exp, seed=5)
        run = stack.wait_for_status(first, {"succeeded", "failed", "cancelled"}, timeout=300)
        assert run["status"] == "succeeded", f"{run['error']}\n{stack.logs()}"
        env = run["environment"]
        assert env["threads"] == 1 and env["determinism"]["guaranteed"] and len(env["data_sha256"]) == 64

        with stack.client() as client:
            predictions = json.loads(client.get(f"/runs/{first}/artifacts/predictions/test.json").content)
        assert len(predictions["targets"]) == len(predictions["predictions"]) > 100
        hits = sum(t == p for t, p in zip(predictions["targets"], predictions["predictions"], strict=True))
        assert abs(100.0 * hits / len(predictions["targets"]) - run["summary"]["test_top1"]) < 1e-4

        stack.processes.pop().stop()
        _worker(stack, "pair", concurrency=2, threads=2)
        beside = _submit(stack, exp, seed=6)  # shares the second worker with the rerun
        verified = xclab(stack.env, "rerun", str(first), "--verify", "--timeout", "300")
        assert verified.returncode == 0, f"{verified.stdout}\n{verified.stderr}\n{stack.logs()}"
        assert "identical" in verified.stdout and "NOT" not in verified.stdout

        other = stack.wait_for_status(beside, {"succeeded", "failed", "cancelled"}, timeout=300)
        assert other["status"] == "succeeded"
        with stack.client() as client:
            report = client.get(f"/runs/{first}/compare/{beside}").json()  # another seed: not identical
        assert not report["identical"] and report["first_divergence"]["step"] == 1
        assert (
            set(report["environment_diff"]) <= {"data_sha256"}
            or "hparams_sha256" not in report["environment_diff"]
        )
    finally:
        stack.stop()

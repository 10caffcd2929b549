"""Two real workers with different queues and (faked) GPU inventories: each registers itself, and runs land
only where they fit."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support import Process, Stack, digits_spec, start_process, start_stack

FAKE_H100 = [{"index": 0, "name": "Fake H100 80GB", "memory_mb": 81_559}]


def _start_worker(stack: Stack, name: str, queues: str, gpus: list[dict]) -> Process:
    env = {**stack.env, "XCL_WORKER_GPUS": json.dumps(gpus), "XCL_WORKER_INVENTORY_SECONDS": "0.5"}
    worker = start_process(name, ["worker", "--queues", queues], env, stack.home / "logs")
    stack.processes.append(worker)
    return worker


def _wait_for_worker(stack: Stack, queue: str, stale: bool, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    with stack.client() as client:
        while time.monotonic() < deadline:
            for worker in client.get("/workers").json()["data"]:
                if worker["queues"] == [queue] and worker["stale"] is stale:
                    return worker
            time.sleep(0.3)
    raise AssertionError(f"no {'stale' if stale else 'live'} worker on queue {queue}\n{stack.logs()}")


def _submit(stack: Stack, exp_id: int, **spec: object):
    with stack.client() as client:
        return client.post("/runs", json={"experiment_id": exp_id, "spec": digits_spec(epochs=1, **spec)})


def test_runs_land_on_the_worker_that_can_hold_them(tmp_path: Path):
    stack = start_stack(tmp_path / "home")
    try:
        _start_worker(stack, "cpu-worker", "cpu", [])
        cpu_worker = _wait_for_worker(stack, "cpu", stale=False)
        assert cpu_worker["gpus"] == [] and cpu_worker["software"]["python"]
        with stack.client() as client:
            exp_id = client.post("/experiments", json={"name": "fleet"}).json()["id"]

        refused = _submit(stack, exp_id, resources={"gpus": 1})
        assert (
            refused.status_code == 422 and "cpu-worker" not in refused.text
        )  # names the node, not the log name
        assert "no worker seen in the last day can hold 1 GPU(s)" in refused.text

        gpu_worker = _start_worker(stack, "gpu-worker", "gpu", FAKE_H100)
        registered = _wait_for_worker(stack, "gpu", stale=False)
        assert registered["gpus"] == FAKE_H100 and registered["slots"] == 1
        gpu_worker.stop()  # says "stopped" on its way out, and stays known for placement
        stack.processes.remove(gpu_worker)
        _wait_for_worker(stack, "gpu", stale=True)

        gpu_run = _submit(stack, exp_id, resources={"gpus": 1, "gpu_kind": "H100"})
        assert gpu_run.status_code == 202, gpu_run.text
        assert gpu_run.json()["queue"] == "gpu"
        cpu_run = _submit(stack, exp_id).json()
        assert stack.wait_for_status(cpu_run["id"], {"succeeded", "failed"})["status"] == "succeeded"
        with stack.client() as client:
            assert (
                client.get(f"/runs/{gpu_run.json()['id']}").json()["status"] == "queued"
            )  # the CPU worker left it

        _start_worker(stack, "gpu-worker-2", "gpu", FAKE_H100)
        done = stack.wait_for_status(gpu_run.json()["id"], {"succeeded", "failed"}, timeout=180)
        assert done["status"] == "succeeded", done["error"]
    finally:
        stack.stop()

"""A multi-GPU run through the whole stack: the API places it on a one-slot worker with two (faked) GPUs, whose
Celery pool process trains it as DistributedDataParallel (gloo on this CPU, forced by XCL_DDP_CPU_PROCESSES) and
reports, from rank 0, metrics, the effective batch size, the environment and the model."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support import digits_spec, start_process, start_stack

TWO_FAKE_H100 = [{"index": i, "name": "Fake H100 80GB", "memory_mb": 81_559} for i in (0, 1)]


def test_a_two_gpu_run_trains_with_ddp_on_a_one_slot_worker(tmp_path: Path):
    stack = start_stack(tmp_path / "home")
    try:
        env = {
            **stack.env,
            "XCL_WORKER_GPUS": json.dumps(TWO_FAKE_H100),
            "XCL_WORKER_INVENTORY_SECONDS": "0.5",
            "XCL_DDP_CPU_PROCESSES": "2",
        }
        cmd = ["worker", "--queues", "gpu", "--concurrency", "1"]
        stack.processes.append(start_process("ddp-worker", cmd, env, stack.home / "logs"))
        with stack.client() as client:
            exp_id = client.post("/experiments", json={"name": "ddp"}).json()["id"]
            spec = digits_spec(epochs=2, resources={"gpus": 2}, overrides={"batch_size": 64})
            deadline = time.monotonic() + 90
            while True:  # placement refuses the run until the worker's first inventory report
                submitted = client.post("/runs", json={"experiment_id": exp_id, "spec": spec})
                if submitted.status_code == 202 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert submitted.status_code == 202, f"{submitted.text}\n{stack.logs()}"
        run_id = submitted.json()["id"]
        done = stack.wait_for_status(run_id, {"succeeded", "failed"}, timeout=300)
        assert done["status"] == "succeeded", f"{done['error']}\n{stack.logs()}"
        with stack.client() as client:
            run = client.get(f"/runs/{run_id}").json()
        assert run["summary"]["world_size"] == 2 and run["summary"]["effective_batch_size"] == 64
        assert run["environment"]["distributed"]["backend"] == "gloo"
        assert run["environment"]["distributed"]["per_rank_batch_size"] == 32.0
        assert any(a["path"] == "model.pt" for a in run["artifacts"])
    finally:
        stack.stop()

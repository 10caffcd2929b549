"""A worker killed mid-run (SIGKILL, no goodbye): the API re-queues the run as its next attempt, another worker
trains it to the end, and its metric history holds every epoch exactly once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.support import digits_spec, start_stack

EPOCHS = 40  # long enough that the kill lands mid-run (a digits epoch takes a fraction of a second)


def test_a_killed_workers_run_is_requeued_and_finished_by_another(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, extra_env={"XCL_HEARTBEAT_TIMEOUT_SECONDS": "10"})
    try:
        first = stack.start_worker("worker-a")
        with stack.client() as client:
            exp = client.post("/experiments", json={"name": "dead-worker"}).json()["id"]
            run = client.post("/runs", json={"experiment_id": exp, "spec": digits_spec(epochs=EPOCHS)}).json()
            deadline = time.monotonic() + 180
            # Mid-run: an epoch is logged (system/* samples come from the start, before any epoch).
            while "test_top1" not in client.get(f"/runs/{run['id']}/metrics").json()["keys"]:
                assert time.monotonic() < deadline, stack.logs()
                time.sleep(0.5)
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        stack.processes.remove(first)
        stack.start_worker("worker-b")
        done = stack.wait_for_status(run["id"], {"succeeded", "failed", "cancelled"}, timeout=300)
        assert done["status"] == "succeeded", f"{done['error']}\n{stack.logs()}"
        assert done["attempt"] == 2 and done["error"] is None
        with stack.client() as client:
            steps = [p["step"] for p in client.get(f"/runs/{run['id']}/metrics/test_top1").json()["points"]]
        assert steps == list(range(1, EPOCHS + 1))
    finally:
        stack.stop()

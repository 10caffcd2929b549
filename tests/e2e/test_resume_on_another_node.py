"""A run whose worker dies resumes on another node from the checkpoint it last uploaded: two workers with homes
(work folders, caches) of their own and only the API between them. The first is killed (SIGKILL) once it has
uploaded a checkpoint; the API re-queues the run, the second downloads that checkpoint, resumes at its epoch, and
finishes with every metric step once and the very numbers of the same spec trained without interruption. Each
worker holds only a worker token of its own: the second may replace the checkpoint once it has claimed the run."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from tests.cli.conftest import xclab
from tests.factories import create_experiment, submit
from tests.support import REDIS_URL, Process, Stack, digits_spec, start_process, start_stack

pytestmark = pytest.mark.redis

EPOCHS = 40  # the kill must land mid-run: a digits epoch of this model takes about 0.1 s
SPEC = digits_spec(epochs=EPOCHS, seed=3, model={"name": "small-cnn", "width": 0.25})
RESUME = "resume/checkpoint.pt"


def _node(stack: Stack, tmp_path: Path, name: str) -> Process:
    """A worker on a 'node' of its own: nothing on disk shared with the API or the other worker, and a worker
    token of its own, kept in a file by `xclab token ensure` (as the compose init job does), not the admin token."""
    token_file = tmp_path / name / "worker-token"
    issued = xclab(
        stack.env, "token", "ensure", "--role", "worker", "--name", name, "--file", str(token_file)
    )
    assert issued.returncode == 0, issued.stdout + issued.stderr
    env = {k: v for k, v in stack.env.items() if k != "XCL_API_TOKEN"}
    env.update({"XCL_HOME": str(tmp_path / name), "XCL_API_TOKEN_FILE": str(token_file)})
    worker = start_process(name, ["worker", "--queues", "cpu", "--concurrency", "1"], env, tmp_path / "logs")
    stack.processes.append(worker)
    return worker


def test_a_run_resumes_on_another_node_from_its_uploaded_checkpoint(tmp_path: Path) -> None:
    stack = start_stack(
        tmp_path / "api", broker_url=REDIS_URL, extra_env={"XCL_HEARTBEAT_TIMEOUT_SECONDS": "8"}
    )
    try:
        first = _node(stack, tmp_path, "node-a")
        with stack.client() as client:
            exp = create_experiment(client, "resume-elsewhere")["id"]
            run_id = submit(client, exp, SPEC)["id"]
            deadline = time.monotonic() + 180
            while not any(a["path"] == RESUME for a in client.get(f"/runs/{run_id}").json()["artifacts"]):
                assert time.monotonic() < deadline, stack.logs()
                time.sleep(0.1)
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        stack.processes.remove(first)
        with stack.client() as client:  # what the dead worker left: the epoch the run must resume at
            uploaded = torch.load(
                io.BytesIO(client.get(f"/runs/{run_id}/artifacts/{RESUME}").content), weights_only=True
            )
        assert 1 <= uploaded["epoch"] < EPOCHS

        _node(stack, tmp_path, "node-b")
        done = stack.wait_for_status(run_id, {"succeeded", "failed", "cancelled"}, timeout=300)
        assert done["status"] == "succeeded", f"{done['error']}\n{stack.logs()}"
        assert done["attempt"] == 2 and done["error"] is None
        resumed = done["environment"]["resume"]
        assert resumed["from_epoch"] == uploaded["epoch"] and resumed["source"] == "upload", resumed
        assert resumed["attempt"] == 2 and resumed["worker"].startswith("xclab-cpu-")
        assert not (tmp_path / "node-b" / "work" / str(run_id)).exists()  # cleaned up after success
        assert (tmp_path / "node-a" / "work" / str(run_id) / "checkpoint.pt").exists()  # never read by node-b

        with stack.client() as client:
            steps = [p["step"] for p in client.get(f"/runs/{run_id}/metrics/test_top1").json()["points"]]
            assert steps == list(range(1, EPOCHS + 1))
            straight = submit(client, exp, SPEC)["id"]  # the same spec and seed, never interrupted
        other = stack.wait_for_status(straight, {"succeeded", "failed", "cancelled"}, timeout=300)
        assert other["status"] == "succeeded" and "resume" not in other["environment"]
        with stack.client() as client:
            report = client.get(f"/runs/{run_id}/compare/{straight}").json()
        assert report["identical"], report
        assert report["compared_points"] > EPOCHS
    finally:
        stack.stop()

"""A real worker holding only a worker token trains a run end to end: claim, heartbeats, metrics, checkpoint,
finish; the claim names its token, and that token can do nothing else."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support import digits_spec, start_process, start_stack


def test_a_worker_token_is_enough_to_train_and_no_more(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        with stack.client() as admin:
            created = admin.post("/tokens", json={"name": "e2e-worker", "role": "worker"}).json()
            exp = admin.post("/experiments", json={"name": "worker-token"}).json()["id"]
            run = admin.post("/runs", json={"experiment_id": exp, "spec": digits_spec(epochs=1)}).json()
        env = {**stack.env, "XCL_API_TOKEN": created["token"]}
        stack.processes.append(start_process("worker", ["worker", "--queues", "cpu"], env, tmp_path / "logs"))
        done = stack.wait_for_status(run["id"], {"succeeded", "failed", "cancelled"}, timeout=180)
        assert done["status"] == "succeeded", f"{done['error']}\n{stack.logs()}"
        assert sorted(a["path"] for a in done["artifacts"]) == ["model.pt", "predictions/test.json"]
        assert done["environment"]["threads"] == 1  # the holder may report the run's environment
        with stack.client() as admin:  # and the worker reports its inventory with the same token
            assert [w["queues"] for w in admin.get("/workers").json()["data"]] == [["cpu"]]
        worker = httpx.Client(
            base_url=f"{stack.api_url}/api/v1", headers={"Authorization": f"Bearer {created['token']}"}
        )
        with worker:
            assert worker.post("/experiments", json={"name": "nope"}).status_code == 403
            assert worker.post(f"/runs/{run['id']}/retry").status_code == 403
            assert worker.get("/tokens").status_code == 403
    finally:
        stack.stop()

"""The worker inventory and GPU placement, through the API on both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.models import Worker, utcnow
from tests.support import digits_spec

H100 = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mb": 81_559}
A10 = {"index": 0, "name": "NVIDIA A10", "memory_mb": 23_028}


def _inventory(
    queues: list[str], gpus: list[dict], running: list[int] | None = None, slots: int | None = None
) -> dict:
    return {
        "host": "node-1",
        "queues": queues,
        "gpus": gpus,
        "slots": slots or max(1, len(gpus)),
        "running": running or [],
        "software": {"torch": "2.14.1"},
    }


def _experiment(api: TestClient) -> int:
    response = api.post("/api/v1/experiments", json={"name": f"fleet-{uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _submit(api: TestClient, **spec: object):
    return api.post("/api/v1/runs", json={"experiment_id": _experiment(api), "spec": digits_spec(**spec)})


def test_a_worker_reports_and_is_listed_then_updated(api: TestClient):
    first = api.put("/api/v1/workers/xclab-gpu-1@node-1", json=_inventory(["gpu"], [H100]))
    assert first.status_code == 200, first.text
    assert first.json()["stale"] is False
    api.put("/api/v1/workers/xclab-gpu-1@node-1", json=_inventory(["gpu"], [H100], running=[7]))
    page = api.get("/api/v1/workers").json()
    assert [w["name"] for w in page["data"]] == ["xclab-gpu-1@node-1"]
    (worker,) = page["data"]
    assert worker["running"] == [7] and worker["gpus"] == [H100] and worker["queues"] == ["gpu"]


def test_a_silent_or_stopped_worker_is_marked_stale(api: TestClient, session: Session):
    api.put("/api/v1/workers/quiet@node-1", json=_inventory(["cpu"], []))
    api.put("/api/v1/workers/gone@node-2", json={**_inventory(["cpu"], []), "state": "stopped"})
    api.put("/api/v1/workers/alive@node-3", json=_inventory(["cpu"], []))
    session.execute(
        update(Worker).where(Worker.name == "quiet@node-1").values(last_seen=utcnow() - timedelta(hours=1))
    )
    session.commit()
    stale = {w["name"]: w["stale"] for w in api.get("/api/v1/workers").json()["data"]}
    assert stale == {"quiet@node-1": True, "gone@node-2": True, "alive@node-3": False}


def test_a_report_needs_the_token_and_valid_fields(api: TestClient):
    anonymous = api.put(
        "/api/v1/workers/w@h", json=_inventory(["cpu"], []), headers={"Authorization": "Bearer wrong"}
    )
    assert anonymous.status_code == 401
    bad = api.put("/api/v1/workers/w@h", json={**_inventory(["cpu"], []), "slots": 0})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "slots"]


def test_a_gpu_run_that_no_worker_can_hold_is_refused_with_the_reason(api: TestClient):
    api.put("/api/v1/workers/cpu-only@node-1", json=_inventory(["cpu"], []))
    refused = _submit(api, resources={"gpus": 1})
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "spec", "resources", "gpus"]
    assert "no worker seen in the last day can hold 1 GPU(s) on queue 'gpu'" in error["msg"]
    assert "cpu-only@node-1" in error["msg"]


def test_a_gpu_run_goes_to_the_gpu_queue_when_a_worker_fits(api: TestClient):
    api.put("/api/v1/workers/big@node-1", json=_inventory(["gpu"], [H100]))
    run = _submit(api, resources={"gpus": 1, "gpu_kind": "h100", "min_gpu_memory_gb": 40})
    assert run.status_code == 202, run.text
    assert run.json()["queue"] == "gpu"
    cpu_run = _submit(api)
    assert cpu_run.json()["queue"] == "cpu"


def test_gpu_kind_and_memory_must_both_match(api: TestClient):
    api.put("/api/v1/workers/small@node-1", json=_inventory(["gpu"], [A10]))
    assert _submit(api, resources={"gpus": 1, "gpu_kind": "A10"}).status_code == 202
    assert _submit(api, resources={"gpus": 1, "gpu_kind": "H100"}).status_code == 422
    assert _submit(api, resources={"gpus": 1, "min_gpu_memory_gb": 40}).status_code == 422


def test_a_multi_gpu_run_needs_a_one_slot_worker_with_that_many_matching_gpus(api: TestClient):
    two_h100 = [H100, {**H100, "index": 1}]
    api.put(
        "/api/v1/workers/split@node-1", json=_inventory(["gpu"], two_h100, slots=2)
    )  # one GPU per process
    api.put("/api/v1/workers/single@node-2", json=_inventory(["gpu"], [H100], slots=1))
    refused = _submit(api, resources={"gpus": 2})
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "spec", "resources", "gpus"]
    assert "--concurrency 1" in error["msg"] and "split@node-1: 2 GPU(s), 2 slot(s)" in error["msg"]

    api.put("/api/v1/workers/whole@node-3", json=_inventory(["gpu"], two_h100, slots=1))
    accepted = _submit(api, resources={"gpus": 2, "gpu_kind": "H100"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["queue"] == "gpu"
    assert _submit(api, resources={"gpus": 3}).status_code == 422


def test_a_multi_gpu_run_uses_the_first_gpus_so_those_must_match(api: TestClient):
    api.put("/api/v1/workers/mixed@node-1", json=_inventory(["gpu"], [A10, {**H100, "index": 1}], slots=1))
    assert _submit(api, resources={"gpus": 2}).status_code == 202
    assert _submit(api, resources={"gpus": 2, "gpu_kind": "H100"}).status_code == 422
    assert _submit(api, resources={"gpus": 1, "gpu_kind": "H100"}).status_code == 202


def test_gpus_above_one_node_are_refused_by_the_spec(api: TestClient):
    refused = _submit(api, resources={"gpus": 17})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-2:] == ["resources", "gpus"]


def test_cpu_runs_are_never_refused_for_want_of_workers(api: TestClient):
    assert _submit(api).status_code == 202

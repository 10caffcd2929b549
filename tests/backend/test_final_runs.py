"""A run that has ended is final: its metrics and artifacts can no longer be written (409, never overwritten)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import digits_spec


def _final_run(api: TestClient, status: str) -> int:
    exp = api.post("/api/v1/experiments", json={"name": f"final-{status}"}).json()["id"]
    run_id = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()}).json()["id"]
    api.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [{"key": "loss", "step": 1, "value": 0.5}]})
    api.put(f"/api/v1/runs/{run_id}/artifacts/model.pt", content=b"original")
    if status == "cancelled":
        assert api.post(f"/api/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"
    else:
        assert api.post(f"/api/v1/runs/{run_id}/claim", json={"worker_host": "w"}).status_code == 200
        finish = api.post(f"/api/v1/runs/{run_id}/finish", json={"status": status, "error": "x"})
        assert finish.json()["status"] == status
    return run_id


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_final_runs_refuse_metrics_and_artifacts(api: TestClient, status: str) -> None:
    run_id = _final_run(api, status)
    metric = api.post(
        f"/api/v1/runs/{run_id}/metrics", json={"metrics": [{"key": "loss", "step": 1, "value": 9.0}]}
    )
    assert metric.status_code == 409 and status in metric.json()["detail"]
    upload = api.put(f"/api/v1/runs/{run_id}/artifacts/model.pt", content=b"forged")
    assert upload.status_code == 409 and "final" in upload.json()["detail"]
    fresh = api.put(f"/api/v1/runs/{run_id}/artifacts/other.bin", content=b"new")
    assert fresh.status_code == 409
    assert api.get(f"/api/v1/runs/{run_id}/metrics/loss").json()["points"] == [{"step": 1, "value": 0.5}]
    assert api.get(f"/api/v1/runs/{run_id}/artifacts/model.pt").content == b"original"
    assert [a["path"] for a in api.get(f"/api/v1/runs/{run_id}").json()["artifacts"]] == ["model.pt"]


def test_a_retried_run_takes_writes_again(api: TestClient) -> None:
    run_id = _final_run(api, "failed")
    assert api.post(f"/api/v1/runs/{run_id}/retry").status_code == 202
    again = api.post(
        f"/api/v1/runs/{run_id}/metrics", json={"metrics": [{"key": "loss", "step": 2, "value": 1}]}
    )
    assert again.status_code == 200

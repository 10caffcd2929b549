"""Metric ingestion (batched and single points) and full history reads through the API, values exact."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_batched_and_single_points_read_back_exactly(api: TestClient) -> None:
    exp = api.post("/api/v1/experiments", json={"name": "m"}).json()["id"]
    run = api.post("/api/v1/runs", json={"experiment_id": exp}).json()["id"]
    url = f"/api/v1/runs/{run}/metrics"
    values = [1 / (step + 3) * (-1) ** step * 10.0 ** (step % 40 - 20) for step in range(2_001)]
    for start in (0, 1_000):
        batch = [{"key": "train/loss", "step": s, "value": values[s]} for s in range(start, start + 1_000)]
        assert api.post(url, json={"metrics": batch}).json() == {"written": 1_000}
    assert api.post(
        url, json={"metrics": [{"key": "train/loss", "step": 2_000, "value": values[2_000]}]}
    ).json() == {"written": 1}
    # A repeated batch (a client's retry) changes nothing; an older step arriving late leaves the summary alone.
    assert (
        api.post(url, json={"metrics": [{"key": "train/loss", "step": 5, "value": values[5]}]}).status_code
        == 200
    )
    history = api.get(f"{url}/train/loss")
    assert history.headers["content-type"] == "application/json"
    body = history.json()
    assert (body["run_id"], body["key"]) == (run, "train/loss")
    assert body["points"] == [{"step": s, "value": v} for s, v in enumerate(values)]
    assert api.get(f"/api/v1/runs/{run}").json()["summary"] == {"train/loss": values[2_000]}
    assert api.get(f"{url}/nope").status_code == 404
    assert api.post("/api/v1/runs/424242/metrics", json={"metrics": []}).status_code == 404

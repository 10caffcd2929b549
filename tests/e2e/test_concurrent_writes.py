"""A worker's requests overlap (its metric batcher, heartbeats and checkpoint uploads run side by side): on the
embedded SQLite they must all be answered at once, never by a 500 after the 30 s lock wait. An upload that waited
for the write lock on the event loop used to stall the loop, and with it the commit of the metric write holding
that lock."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.factories import claim, create_experiment, submit
from tests.support import digits_spec, start_stack

ROUNDS = 150


def test_uploads_and_metric_writes_side_by_side_never_wait_on_each_other(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        with stack.client() as client:
            run_id = submit(client, create_experiment(client)["id"], digits_spec(epochs=1))["id"]
            claim(client, run_id)
        failures: list[str] = []

        def uploads() -> None:
            with httpx.Client(
                base_url=f"{stack.api_url}/api/v1", headers=stack.client().headers, timeout=10
            ) as c:
                for i in range(ROUNDS):
                    r = c.put(f"/runs/{run_id}/artifacts/resume/checkpoint.pt", content=b"x" * (i + 1))
                    if r.status_code != 200:
                        failures.append(f"upload {i}: {r.status_code} {r.text[:200]}")

        def metrics() -> None:
            with httpx.Client(
                base_url=f"{stack.api_url}/api/v1", headers=stack.client().headers, timeout=10
            ) as c:
                for i in range(ROUNDS):
                    body = {"metrics": [{"key": "loss", "step": i + 1, "value": 1.0 / (i + 1)}]}
                    r = c.post(f"/runs/{run_id}/metrics", json=body)
                    if r.status_code != 200:
                        failures.append(f"metrics {i}: {r.status_code} {r.text[:200]}")

        threads = [threading.Thread(target=f) for f in (uploads, metrics, metrics)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # A request stalled past the client's 10 s raises in its thread and leaves its rounds unwritten.
        with stack.client() as client:
            art = client.get(f"/runs/{run_id}/artifacts/resume/checkpoint.pt")
            points = client.get(f"/runs/{run_id}/metrics/loss").json()["points"]
        assert not failures, failures[:5]
        assert art.content == b"x" * ROUNDS
        assert [p["step"] for p in points] == list(range(1, ROUNDS + 1))
    finally:
        stack.stop()

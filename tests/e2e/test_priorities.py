"""Priorities on Redis: an urgent run submitted after others overtakes them at the worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import REDIS_URL, digits_spec, start_stack

pytestmark = pytest.mark.redis


def test_an_urgent_run_overtakes_the_runs_already_waiting(tmp_path: Path):
    stack = start_stack(tmp_path / "home", broker_url=REDIS_URL)
    try:
        with stack.client() as client:
            exp_id = client.post("/experiments", json={"name": "priorities"}).json()["id"]

            def submit(seed: int, priority: int) -> dict:
                body = {
                    "experiment_id": exp_id,
                    "spec": digits_spec(seed=seed, epochs=1),
                    "priority": priority,
                }
                response = client.post("/runs", json=body)
                assert response.status_code == 202, response.text
                return response.json()

            waiting = [submit(seed, 0) for seed in range(3)]  # no worker yet: they wait in the broker
            urgent = submit(9, 9)
            assert urgent["priority"] == 9 and waiting[0]["priority"] == 0
            assert (
                client.post(
                    "/runs", json={**{"experiment_id": exp_id, "spec": digits_spec()}, "priority": 10}
                ).status_code
                == 422
            )

        stack.start_worker("worker", queues="cpu")  # concurrency 1, prefetch 1: one message at a time
        runs = [
            stack.wait_for_status(r["id"], {"succeeded", "failed"}, timeout=240) for r in [urgent, *waiting]
        ]
        assert all(r["status"] == "succeeded" for r in runs), [r["error"] for r in runs]
        order = sorted(runs, key=lambda r: r["started_at"])
        assert order[0]["id"] == urgent["id"], [(r["id"], r["started_at"]) for r in order]
    finally:
        stack.stop()

"""Shared test factories over the REST API: experiments, runs and grids, and a run's lifecycle played by hand
(claim, metrics, finish) for tests that need finished runs without training them.

Each takes an httpx client: FastAPI's TestClient (the /api/v1 prefix is added) or a live stack's client (whose
base URL already ends in /api/v1). Each checks the answer's status, so a factory never hides a failed call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from tests.support import digits_spec

API = "/api/v1"

Metrics = Mapping[str, float | Sequence[float]]


def _url(client: httpx.Client, path: str) -> str:
    return path if client.base_url.path.rstrip("/").endswith(API) else API + path


def _ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json()


def create_experiment(client: httpx.Client, name: str = "exp", description: str = "") -> dict[str, Any]:
    body = {"name": name, "description": description}
    return _ok(client.post(_url(client, "/experiments"), json=body), 201)


def experiment_named(client: httpx.Client, name: str) -> int:
    """The id of the experiment of that name, created if there is none yet."""
    listed = _ok(client.get(_url(client, "/experiments")), 200)["data"]
    found = [e["id"] for e in listed if e["name"] == name]
    return found[0] if found else create_experiment(client, name)["id"]


def submit(
    client: httpx.Client,
    experiment_id: int,
    spec: dict[str, Any] | None = None,
    *,
    queue: str | None = None,
    **spec_overrides: Any,
) -> dict[str, Any]:
    """Submit `spec` (by default the digits spec, with `spec_overrides`); the run as answered (202)."""
    body: dict[str, Any] = {"experiment_id": experiment_id, "spec": spec or digits_spec(**spec_overrides)}
    if queue:
        body["queue"] = queue
    return _ok(client.post(_url(client, "/runs"), json=body), 202)


def log_metrics(client: httpx.Client, run_id: int, metrics: Metrics) -> None:
    """One value per key at step 1, or a curve (steps 1, 2, ...) where a key maps to a list."""
    points = [
        {"key": key, "step": step, "value": value}
        for key, values in metrics.items()
        for step, value in enumerate(values if isinstance(values, Sequence) else [values], start=1)
    ]
    _ok(client.post(_url(client, f"/runs/{run_id}/metrics"), json={"metrics": points}), 200)


def claim(client: httpx.Client, run_id: int, worker_host: str = "test") -> dict[str, Any]:
    return _ok(client.post(_url(client, f"/runs/{run_id}/claim"), json={"worker_host": worker_host}), 200)


def finish(
    client: httpx.Client,
    run_id: int,
    status: str = "succeeded",
    metrics: Metrics | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """Play a queued run's lifecycle as a worker would: claim it, log `metrics`, finish with `status` (a failed
    run gets an error message, "boom" unless given)."""
    claim(client, run_id)
    if metrics:
        log_metrics(client, run_id, metrics)
    body = {"status": status, "error": error or ("boom" if status == "failed" else None)}
    return _ok(client.post(_url(client, f"/runs/{run_id}/finish"), json=body), 200)


def make_grid(client: httpx.Client, definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Submit a grid; the grid as answered and its run ids by cell key."""
    grid = _ok(client.post(_url(client, "/grids"), json={"definition": definition}), 201)
    return grid, {c["key"]: c["run_id"] for c in grid["cells"]}

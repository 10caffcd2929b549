"""A tracking run's start is answered in front of FastAPI (`backend.fast_runs`); a training run, a worker's
token, a bad body or a refusal reach the full stack and get the answer they always got."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from backend import fast_runs
from tests.support import digits_spec


async def _broken(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("the full stack was entered")


def _post(api: TestClient, **kwargs: Any) -> Response | None:
    """The answer when the request was answered in front of the stack, None when it reached the stack."""
    app: FastAPI = api.app  # type: ignore[assignment]
    stack, app.middleware_stack = app.middleware_stack, _broken  # type: ignore[assignment]
    try:
        return api.post("/api/v1/runs", **kwargs)
    except RuntimeError:
        return None
    finally:
        app.middleware_stack = stack


def _experiment(api: TestClient) -> int:
    return api.post("/api/v1/experiments", json={"name": "fast"}).json()["id"]


def test_a_tracking_run_starts_in_front_of_the_stack_as_the_stack_answers(api: TestClient) -> None:
    experiment = _experiment(api)
    body = {"experiment_id": experiment, "name": "sweep-1", "params": {"lr": 0.1, "arch": "resnet50"}}
    front = _post(api, json=body)
    assert front is not None and front.status_code == 202
    stacked = api.get(front.headers["location"])
    assert stacked.status_code == 200 and stacked.json() == front.json()
    assert front.json()["kind"] == "tracking" and front.json()["params"] == body["params"]


def test_on_postgresql_the_run_is_created_on_the_event_loop(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread pool's path is not taken (on SQLite it is the only one)."""
    postgres = api.app.state.engine.dialect.name == "postgresql"  # type: ignore[attr-defined]

    async def elsewhere(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("sent to the thread pool")

    monkeypatch.setattr(fast_runs, "run_in_threadpool", elsewhere)
    body = {"experiment_id": _experiment(api), "params": {"seed": 1}}
    if postgres:
        front = _post(api, json=body)
        assert front is not None and front.status_code == 202 and front.json()["params"] == {"seed": 1}
    else:
        with pytest.raises(RuntimeError, match="thread pool"):
            api.post("/api/v1/runs", json=body)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"experiment_id": 0, "spec": digits_spec()}, 202),  # a training run: queued through the stack
        ({"experiment_id": 0, "params": {"lr": [1, 2]}}, 422),  # invalid: the stack's 422 names the field
        ({"experiment_id": 0, "queue": "cpu"}, 422),  # the model's own check
        ({"experiment_id": 10**6}, 404),  # no such experiment: the stack's 404
        ({"experiment_id": 2**31}, 422),  # past the id columns' range: the stack's 422 names the field
        ({"experiment_id": -(2**31) - 1}, 422),  # likewise below it
        (["not", "an", "object"], 422),
    ],
)
def test_anything_but_a_plain_tracking_run_reaches_the_stack(api: TestClient, body: Any, status: int) -> None:
    experiment = _experiment(api)
    if isinstance(body, dict) and body["experiment_id"] == 0:
        body = {**body, "experiment_id": experiment}
    assert _post(api, json=body) is None
    answer = api.post("/api/v1/runs", json=body)
    assert answer.status_code == status, answer.text
    if status == 202:
        assert answer.json()["kind"] == "training"


def test_a_body_not_sent_as_json_reaches_the_stack(api: TestClient) -> None:
    experiment = _experiment(api)
    content = f'{{"experiment_id": {experiment}}}'
    for content_type in ("text/json", "application/x-ndjson", "text/plain"):
        headers = {"content-type": content_type}
        assert _post(api, content=content, headers=headers) is None
        assert api.post("/api/v1/runs", content=content, headers=headers).status_code in {415, 422}
    assert _post(api, content=content, headers={"content-type": "application/vnd.api+json"}) is not None
    assert len(api.get("/api/v1/runs", params={"experiment_id": experiment}).json()["data"]) == 1


def test_a_worker_token_is_refused_by_the_stack(api: TestClient) -> None:
    experiment = _experiment(api)
    worker = api.post("/api/v1/tokens", json={"name": "w", "role": "worker"}).json()["token"]
    headers = {"Authorization": f"Bearer {worker}"}
    body = {"experiment_id": experiment}
    assert api.get("/api/v1/whoami", headers=headers).status_code == 200  # cached: the front door knows it
    assert _post(api, json=body, headers=headers) is None
    assert api.post("/api/v1/runs", json=body, headers=headers).status_code == 403
    assert api.get("/api/v1/runs", params={"experiment_id": experiment}).json()["data"] == []

"""The plain metric write is answered in front of FastAPI; every other request to the route (a bad body, a token
to look up, a refusal) reaches the full stack and gets the answer it always got, with nothing written twice."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from backend import fast_metrics
from tests.backend.conftest import TOKEN
from tests.support import terminate_backends


async def _broken(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("the full stack was entered")


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """A JSON POST's ASGI scope, for driving the app directly (chunked bodies, a receive that must not run)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
        "server": ("testserver", 80),
        "client": ("testclient", 50000),
    }


def _tracking_run(api: TestClient) -> int:
    experiment = api.post("/api/v1/experiments", json={"name": "fast"}).json()["id"]
    return api.post("/api/v1/runs", json={"experiment_id": experiment, "params": {}}).json()["id"]


def _points(api: TestClient, run_id: int, key: str = "loss") -> list[dict[str, Any]]:
    return api.get(f"/api/v1/runs/{run_id}/metrics/{key}").json()["points"]


def _stack_entered(api: TestClient, path: str, **kwargs: Any) -> bool:
    """Whether the request reached FastAPI's stack (replaced by one that raises for the call)."""
    app: FastAPI = api.app  # type: ignore[assignment]
    stack, app.middleware_stack = app.middleware_stack, _broken  # type: ignore[assignment]
    try:
        response = api.post(path, **kwargs)
    except RuntimeError:
        return True
    finally:
        app.middleware_stack = stack
    assert response.status_code == 200 and response.json() == {"written": 1}
    return False


def test_a_plain_write_skips_the_stack_and_is_stored(api: TestClient) -> None:
    run_id = _tracking_run(api)
    body = {"metrics": [{"key": "loss", "step": 3, "value": 0.25}]}
    assert not _stack_entered(api, f"/api/v1/runs/{run_id}/metrics", json=body)
    assert _points(api, run_id) == [{"step": 3, "value": 0.25}]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ('{"metrics": [{"key": "loss", "step": 1, "value": "high"}]}', {}),  # invalid: the stack's 422
        ('{"metrics": [{"key": "loss", "step": 1, "value": NaN}]}', {}),  # refused by the JSON checks
        ('{"metrics": [', {}),  # not JSON
        ('{"metrics": []}', {"content-type": "text/plain"}),  # not sent as JSON
        ('{"metrics": []}', {"content-type": "text/json"}),  # "json" in it, but not a type FastAPI parses
        ('{"metrics": []}', {"Authorization": "Bearer xcu_not-a-token"}),  # a token to look up
        ('{"metrics": []}', {"Authorization": ""}),  # no token
    ],
)
def test_anything_but_a_plain_write_reaches_the_stack(
    api: TestClient, content: str, headers: dict[str, str]
) -> None:
    run_id = _tracking_run(api)
    headers = {"content-type": "application/json", **headers}
    assert _stack_entered(api, f"/api/v1/runs/{run_id}/metrics", content=content, headers=headers)
    answer = api.post(f"/api/v1/runs/{run_id}/metrics", content=content, headers=headers)
    assert answer.status_code in {401, 415, 422} or answer.json() == {"written": 0}


def test_the_stack_answers_validation_errors_naming_the_field(api: TestClient) -> None:
    run_id = _tracking_run(api)
    bad = {"metrics": [{"key": "loss", "step": 1, "value": 0.5}, {"key": "loss", "step": -1, "value": 0.5}]}
    answer = api.post(f"/api/v1/runs/{run_id}/metrics", json=bad)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "metrics", 1, "step"]
    assert api.get(f"/api/v1/runs/{run_id}/metrics").json()["keys"] == []


@pytest.mark.parametrize("text", ["inf", "-Infinity", "nan"])
def test_a_non_finite_number_written_as_a_string_is_refused_naming_the_field(
    api: TestClient, text: str
) -> None:
    """JSON has no infinity or NaN, but a float field parses them from strings; a point's value and wall time
    refuse them (the PostgreSQL write could not ship them, and the history would not be valid JSON)."""
    run_id = _tracking_run(api)
    for field in ("value", "wall_time"):
        point = {"key": "loss", "step": 1, "value": 0.5, field: text}
        answer = api.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [point]})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "metrics", 0, field]
    assert api.get(f"/api/v1/runs/{run_id}/metrics").json()["keys"] == []


def test_a_refused_write_is_answered_by_the_stack_and_writes_nothing(api: TestClient) -> None:
    run_id = _tracking_run(api)
    assert api.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded"}).status_code == 200
    body = {"metrics": [{"key": "loss", "step": 1, "value": 0.5}]}
    assert _stack_entered(api, f"/api/v1/runs/{run_id}/metrics", json=body)
    answer = api.post(f"/api/v1/runs/{run_id}/metrics", json=body)
    assert answer.status_code == 409 and "final" in answer.json()["detail"]
    assert api.get(f"/api/v1/runs/{run_id}/metrics").json()["keys"] == []
    assert api.post("/api/v1/runs/999999/metrics", json=body).status_code == 404


def test_a_body_in_several_chunks_is_read_whole(api: TestClient) -> None:
    run_id = _tracking_run(api)
    raw = json.dumps({"metrics": [{"key": "acc", "step": s, "value": s / 10} for s in range(2)]}).encode()
    chunks = [raw[:10], raw[10:25], raw[25:]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = f"/api/v1/runs/{run_id}/metrics"
    scope = _scope(path, [(b"authorization", f"Bearer {TOKEN}".encode())])
    asyncio.run(api.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"]) == {"written": 2}
    assert _points(api, run_id, "acc") == [{"step": 0, "value": 0.0}, {"step": 1, "value": 0.1}]


def test_a_user_token_is_looked_up_by_the_stack_then_served_in_front(api: TestClient) -> None:
    run_id = _tracking_run(api)
    user = api.post("/api/v1/tokens", json={"name": "u", "role": "user"}).json()["token"]
    headers = {"Authorization": f"Bearer {user}"}
    body = {"metrics": [{"key": "loss", "step": 1, "value": 0.5}]}
    assert _stack_entered(api, f"/api/v1/runs/{run_id}/metrics", json=body, headers=headers)
    assert api.post(f"/api/v1/runs/{run_id}/metrics", json=body, headers=headers).status_code == 200
    body["metrics"][0]["step"] = 2
    assert not _stack_entered(api, f"/api/v1/runs/{run_id}/metrics", json=body, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        [],  # no token: 401 before the body is read
        [(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-length", b"99999999")],  # 413 as declared
    ],
)
def test_a_body_the_guard_refuses_unread_is_not_read(
    api: TestClient, headers: list[tuple[bytes, bytes]]
) -> None:
    run_id = _tracking_run(api)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = f"/api/v1/runs/{run_id}/metrics"
    scope = _scope(path, headers)
    asyncio.run(api.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] in {401, 413}


@pytest.mark.parametrize("size", [1, 100, 101])
def test_plain_writes_wait_on_the_event_loop_and_large_sqlite_ones_on_a_thread(
    api: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A plain write is written on the event loop (`backend.store.loop_writer`, `sqlite_loop_writer`), not on a
    thread, and answered there (a writer that failed would leave the write to the full stack, which writes too);
    on SQLite a batch past 100 points, whose inserts would hold the loop, goes to the thread pool."""
    on_thread = database_url.startswith("sqlite") and size > 100
    threaded: list[int] = []
    monkeypatch.setattr(fast_metrics, "write_points", lambda *args: threaded.append(len(args[3])) or size)
    run_id = _tracking_run(api)
    body = {"metrics": [{"key": "loss", "step": step, "value": 0.5} for step in range(size)]}
    stack: FastAPI = api.app  # type: ignore[assignment]
    original, stack.middleware_stack = stack.middleware_stack, _broken  # type: ignore[assignment]
    try:
        assert api.post(f"/api/v1/runs/{run_id}/metrics", json=body).json() == {"written": size}
    finally:
        stack.middleware_stack = original
    assert threaded == ([size] if on_thread else [])
    keys = api.get(f"/api/v1/runs/{run_id}/metrics").json()["keys"]
    assert keys == ([] if on_thread else ["loss"])  # the thread pool's write was replaced by a no-op


def test_a_lost_database_connection_leaves_one_write_to_the_stack(api: TestClient, database_url: str) -> None:
    """The database restarted (every connection gone): the next plain write's connection fails and the full
    stack (whose pool finds the closed connections and reconnects) writes it; the write after that is the event
    loop's again. Every point is stored and the client sees plain successes."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connection to lose")
    app: FastAPI = api.app  # type: ignore[assignment]
    run_id = _tracking_run(api)
    body = {"metrics": [{"key": "loss", "step": 1, "value": 0.5}]}
    assert api.post(f"/api/v1/runs/{run_id}/metrics", json=body).json() == {"written": 1}
    terminate_backends(make_url(database_url).database or "")
    stack, entered = app.middleware_stack, []

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        entered.append(scope["path"])
        await stack(scope, receive, send)  # type: ignore[misc]

    app.middleware_stack = counted  # type: ignore[assignment]
    try:
        for step in (2, 3):
            body["metrics"][0]["step"] = step
            answer = api.post(f"/api/v1/runs/{run_id}/metrics", json=body)
            assert (answer.status_code, answer.json()) == (200, {"written": 1})
            assert len(entered) == 1  # step 2 by the stack, step 3 in front of it
    finally:
        app.middleware_stack = stack
    assert [p["step"] for p in _points(api, run_id)] == [1, 2, 3]


@pytest.mark.parametrize("step", ["9.3e18", "9223372036854775808.0"])
def test_a_step_past_64_bits_written_as_a_float_is_refused_naming_the_field(
    api: TestClient, step: str
) -> None:
    run_id = _tracking_run(api)
    content = f'{{"metrics": [{{"key": "loss", "step": {step}, "value": 0.5}}]}}'
    answer = api.post(
        f"/api/v1/runs/{run_id}/metrics", content=content, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "metrics", 0, "step"]

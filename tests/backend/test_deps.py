"""The request's unit of work commits before the answer leaves: a client that reacts to the answer at once (a
worker heartbeating right after its claim) finds the rows written. Driven through the ASGI interface, so the
database is read at the moment the response starts."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend import routes
from backend.db import make_engine
from backend.deps import Principal, _check_reporter, _holder, get_read_session, get_unit_of_work
from backend.models import Experiment, Run
from backend.store.tokens import token_hash
from backend.token_cache import TokenCache
from tests.backend.conftest import TOKEN
from tests.support import digits_spec


def _post(app: FastAPI, path: str, body: dict[str, Any], on_start: Any) -> int:
    """POST through the app; `on_start()` runs when the response starts. Returns the status code."""
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            on_start()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"authorization", f"Bearer {TOKEN}".encode())],
        "server": ("testserver", 80),
        "client": ("testclient", 50000),
    }
    asyncio.run(app(scope, receive, send))
    return status[0]


def test_rows_are_committed_when_the_response_starts(api: TestClient, database_url: str) -> None:
    app: FastAPI = api.app  # type: ignore[assignment]
    engine = make_engine(database_url)
    seen: list[Any] = []
    try:
        with engine.connect() as other:

            def experiments() -> None:
                seen.append(list(other.scalars(select(Experiment.name))))
                other.rollback()  # a fresh snapshot for the next read

            assert _post(app, "/api/v1/experiments", {"name": "visible"}, experiments) == 201
            exp = api.get("/api/v1/experiments").json()["data"][0]["id"]
            run = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()}).json()["id"]

            def status() -> None:
                seen.append(other.scalar(select(Run.status).where(Run.id == run)))
                other.rollback()

            assert _post(app, f"/api/v1/runs/{run}/claim", {"worker_host": "w"}, status) == 200
    finally:
        engine.dispose()
    assert seen == [["visible"], "running"]


def _dependencies(dependant: Any) -> set[Any]:
    calls = {dependant.call}
    for sub in dependant.dependencies:
        calls |= _dependencies(sub)
    return calls


def _api_routes() -> list[APIRoute]:
    """Every route of the API's routers (`backend.routes.*`)."""
    modules = (
        importlib.import_module(f"backend.routes.{m.name}") for m in pkgutil.iter_modules(routes.__path__)
    )
    return [
        route
        for module in modules
        if isinstance(getattr(module, "router", None), APIRouter)
        for route in module.router.routes
        if isinstance(route, APIRoute)
    ]


def test_reads_take_a_read_session_and_writes_a_unit_of_work() -> None:
    """Every GET route that reads the database does it in a read session (no transaction on PostgreSQL); only
    the other methods take a unit of work, which commits."""
    found = _api_routes()
    reads = [(r.path, _dependencies(r.dependant)) for r in found if r.methods == {"GET"}]
    writes = [(r.path, _dependencies(r.dependant)) for r in found if "GET" not in r.methods]
    assert not [path for path, calls in reads if get_unit_of_work in calls]
    assert len([path for path, calls in reads if get_read_session in calls]) >= 15
    assert not [path for path, calls in writes if get_read_session in calls]
    assert len(writes) >= 20  # the walk found the routers' routes


def _no_unit_of_work() -> Any:
    raise AssertionError("a caller's check opened a session of the write factory")


def test_callers_are_checked_in_read_sessions(api: TestClient) -> None:
    """The token lookup on a cache miss and the holder checks only read: on PostgreSQL, without a transaction's
    BEGIN and ROLLBACK round trips."""
    app: FastAPI = api.app  # type: ignore[assignment]
    created = api.post("/api/v1/tokens", json={"name": "reader", "role": "user"})
    worker = api.post("/api/v1/tokens", json={"name": "w", "role": "worker"}).json()
    experiment = api.post("/api/v1/experiments", json={"name": "deps"}).json()["id"]
    run_id = api.post("/api/v1/runs", json={"experiment_id": experiment, "spec": digits_spec()}).json()["id"]
    app.state.session_factory = _no_unit_of_work
    app.state.token_cache = cache = TokenCache()  # the next request's token is looked up in the database
    user_token = created.json()["token"]
    known = api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {user_token}"})
    assert known.status_code == 200, known.text
    assert known.json()["role"] == "user" and cache.get(token_hash(user_token)) is not None
    request: Any = SimpleNamespace(app=app)
    assert _holder(request, run_id) is None
    user = Principal("user", created.json()["id"], "reader")
    _check_reporter(request, user, run_id)  # no worker holds the run: a user may report on it
    with pytest.raises(HTTPException) as refused:
        _check_reporter(request, Principal("worker", worker["id"], "w"), run_id)
    assert refused.value.status_code == 403

"""The liveness probe is answered in the app's ASGI entry point, before FastAPI's middleware and router, and is
still described in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


async def _broken(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("the middleware stack was entered")


def test_live_is_answered_without_the_middleware_stack(api: TestClient) -> None:
    api.app.middleware_stack = _broken  # type: ignore[attr-defined]
    live = api.get("/api/v1/health/live", headers={"Authorization": ""})
    assert live.status_code == 200
    assert live.json() == {"status": "ok", "version": api.app.version}  # type: ignore[attr-defined]
    assert live.headers["content-type"] == "application/json"
    head = api.head("/api/v1/health/live")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(live.content))
    try:
        api.get("/api/v1/health/ready")
    except RuntimeError as exc:  # every other path goes through the stack
        assert "middleware stack" in str(exc)
    else:
        raise AssertionError("/health/ready did not reach the middleware stack")


def test_other_methods_reach_fastapi(api: TestClient) -> None:
    assert api.post("/api/v1/health/live").status_code == 405


def test_live_is_still_in_the_openapi_document(api: TestClient) -> None:
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    assert "get" in paths["/api/v1/health/live"]

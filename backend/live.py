"""The liveness probe, and tracking's common writes and search (`backend.fast_path`), answered in front of FastAPI.

`GET /api/v1/health/live` (and `HEAD`) is what load balancers and latency checks call most; going through
FastAPI's middleware stack, router and response model cost several times the server's own overhead. `Api`
answers it before any of that with a body built once; the route in `backend.routes.health` stays, so the
OpenAPI document still describes it (and answers if this layer is ever bypassed).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from backend import fast_metrics, fast_runs, fast_search
from backend.fast_path import Handler, answer, answer_read


class Api(FastAPI):
    """FastAPI with the liveness probe answered in its ASGI entry point (no routing, middleware or database), and
    a plain metric write, tracking-run start or runs page tried there before the full stack."""

    def __init__(self, *, live_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._live_path = live_path
        self._live_body = json.dumps(
            {"status": "ok", "version": self.version}, separators=(",", ":")
        ).encode()
        self._live_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._live_body)).encode()),
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == self._live_path
            and scope["method"] in ("GET", "HEAD")
        ):
            await send({"type": "http.response.start", "status": 200, "headers": self._live_headers})
            body = self._live_body if scope["method"] == "GET" else b""
            await send({"type": "http.response.body", "body": body})
            return
        # Not under a root path: the router would strip it from the path, which these compare whole.
        front_door = scope["type"] == "http" and not scope.get("root_path")
        if (
            front_door
            and scope["method"] == "GET"
            and scope["path"] == fast_search.PATH
            and await answer_read(self, scope, send, fast_search.read)
        ):
            return
        if front_door and scope["method"] == "POST":
            handler = _front_door(scope["path"])
            if handler is not None:
                rest = await answer(self, scope, receive, send, handler)
                if rest is None:
                    return
                receive = rest
        await super().__call__(scope, receive, send)


def _front_door(path: str) -> Handler | None:
    """The handler of a POST `backend.fast_path` may answer."""
    if path == fast_runs.PATH:
        return fast_runs.create
    if fast_metrics.run_id_of(path) is not None:
        return fast_metrics.write
    return None

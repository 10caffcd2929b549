"""The benchmark's HTTP client: one keep-alive HTTP/1.1 connection from the standard library.

A client's own time is part of every figure it measures, and it dilutes the ratio of two servers: httpx spends
about 0.2 ms of its own per request here (a liveness round trip measured 0.32 ms through httpx and 0.13 ms through
`http.client` against the same server), as much as a small request takes in XCL Lab's server. This client builds
the request line and headers itself, so what is timed is mostly the servers'. `--client httpx` keeps the old one.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx


class Reply:
    """What the adapters read of an answer (httpx.Response's names)."""

    def __init__(self, method: str, path: str, status_code: int, content: bytes) -> None:
        self.method, self.path, self.status_code, self.content = method, path, status_code, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


# Servers close a keep-alive connection idle for a few seconds (uvicorn: 5 s); one idle longer than this is
# reopened before a request rather than retried after it, so a POST is never sent twice.
IDLE_SECONDS = 2.0


class PlainHttp:
    """GET and POST (JSON) over one persistent connection."""

    def __init__(self, base_url: str, headers: dict[str, str] | None, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port or 80, timeout
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.last_used = time.monotonic()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Reply:
        return self._send("GET", path, None, f"?{urlencode(params, doseq=True)}" if params else "")

    def post(self, path: str, json: Any = None) -> Reply:  # noqa: A002 - httpx's keyword
        return self._send("POST", path, _dumps(json))

    def close(self) -> None:
        self.connection.close()

    def _send(self, method: str, path: str, body: bytes | None, query: str = "") -> Reply:
        target = quote(path.removeprefix(self.origin) if path.startswith(self.origin) else self.prefix + path)
        headers = self.headers if body is None else {**self.headers, "Content-Type": "application/json"}
        if time.monotonic() - self.last_used > IDLE_SECONDS:
            self.connection.close()  # http.client connects again on the next request
        # A GET the server dropped (it closed the connection as the request left) is sent again; a POST is not.
        for attempt in (1, 2) if method == "GET" else (2,):
            try:
                self.connection.request(method, target + query, body=body, headers=headers)
                response = self.connection.getresponse()
                reply = Reply(method, target, response.status, response.read())
                self.last_used = time.monotonic()
                return reply
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class HttpxClient:
    """The same interface on httpx.Client, for `--client httpx`."""

    def __init__(self, base_url: str, headers: dict[str, str] | None, timeout: float) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Reply:
        return self._reply(self.http.get(path, params=params))

    def post(self, path: str, json: Any = None) -> Reply:  # noqa: A002 - httpx's keyword
        return self._reply(self.http.post(path, json=json))

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def _reply(response: httpx.Response) -> Reply:
        return Reply(
            response.request.method, response.request.url.path, response.status_code, response.content
        )


CLIENTS = {"plain": PlainHttp, "httpx": HttpxClient}

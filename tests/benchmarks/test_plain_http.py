"""The tracking benchmark's HTTP client against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.tracking.plain_http import CLIENTS


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: list[int] = []  # the client port of each request's connection

    def _answer(self, payload: dict[str, object], close: bool) -> None:
        body = json.dumps(payload).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = close

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.connections.append(self.client_address[1])
        self._answer({"path": self.path, "auth": self.headers["Authorization"]}, close="close" in self.path)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.connections.append(self.client_address[1])
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._answer({"path": self.path, "sent": sent, "type": self.headers["Content-Type"]}, close=False)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Echo.connections = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_requests_reach_the_server_as_sent_over_one_connection(server: str, name: str) -> None:
    client = CLIENTS[name](server + "/api", {"Authorization": "Bearer t"}, 10)
    try:
        got = client.get("/runs", params={"sort": "-metric:val top1", "limit": 3})
        assert got.status_code == 200
        assert got.json() == {"path": "/api/runs?sort=-metric%3Aval+top1&limit=3", "auth": "Bearer t"}
        posted = client.post("/runs/1/metrics", json={"metrics": [{"key": "é", "step": 1}]})
        assert (posted.status_code, posted.method, posted.path) == (201, "POST", "/api/runs/1/metrics")
        assert posted.json()["sent"] == {"metrics": [{"key": "é", "step": 1}]}
        assert posted.json()["type"] == "application/json"
        assert client.get(server + "/health").json()["path"] == "/health"  # an absolute URL skips the prefix
        assert client.get("/runs/1/metrics/a b", params={"tag": ["x", "y"]}).json()["path"] == (
            "/api/runs/1/metrics/a%20b?tag=x&tag=y"
        )
        assert len(set(Echo.connections)) == 1  # keep-alive: one connection for all of them
    finally:
        client.close()


def test_a_connection_the_server_closed_is_reopened(server: str) -> None:
    client = CLIENTS["plain"](server, None, 10)
    try:
        assert client.get("/close").status_code == 200
        assert client.get("/again").json()["path"] == "/again"
        assert len(set(Echo.connections)) == 2
    finally:
        client.close()

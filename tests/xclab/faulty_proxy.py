"""A tiny HTTP proxy in front of the real API that fails chosen requests on purpose, and counts every request.

Faults: "503" answers 503 without forwarding; "lost-answer" forwards the request (the API acts on it) and then
closes the connection without answering, as when a network or a restarting API loses the answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import httpx

Fault = Literal["503", "lost-answer"]
FORWARDED_HEADERS = ("authorization", "content-type")


@dataclass
class FaultyProxy:
    upstream: str
    url: str = ""
    received: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request
    _faults: list[tuple[str, str, Fault]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, method: str, path: str, fault: Fault) -> None:
        """Fail the next request with this method and path (path without the query) once."""
        with self._lock:
            self._faults.append((method, path, fault))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.received if m == method and p.split("?")[0] == path)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.received.append((method, path))
            for i, (m, p, fault) in enumerate(self._faults):
                if m == method and p == path.split("?")[0]:
                    del self._faults[i]
                    return fault
        return None


def _handler(proxy: FaultyProxy, upstream: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = proxy._take_fault(self.command, self.path)
            if fault == "503":
                self._answer(503, b'{"detail": "injected outage"}', "application/json")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED_HEADERS}
            response = upstream.request(self.command, self.path, headers=headers, content=body)
            if fault == "lost-answer":
                self.close_connection = True  # returns without a byte: the client sees the connection drop
                return
            self._answer(response.status_code, response.content, response.headers.get("content-type", ""))

        def _answer(self, status: int, content: bytes, content_type: str) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        def log_message(self, *_: object) -> None:  # quiet: the test reads `received` instead
            pass

    return Handler


@contextmanager
def faulty_proxy(upstream_url: str) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(upstream_url)
    with httpx.Client(base_url=upstream_url, timeout=30) as upstream:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy, upstream))
        proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield proxy
        finally:
            server.shutdown()
            server.server_close()

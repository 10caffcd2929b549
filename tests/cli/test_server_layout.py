"""The API's server layout (`xclab serve`): one process on uvloop + httptools, and every accepted connection
has TCP_NODELAY set, so sequential keep-alive requests never wait out Nagle's algorithm against the client's
delayed ACK (the ~40 ms per request that a hand-bound socket under `uvicorn --workers N` shows). The latency
itself is measured by benchmarks/tracking_vs_mlflow.py ("cheapest request")."""

from __future__ import annotations

import gc
import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from backend.app import create_app
from backend.db import upgrade
from cli.services import server_config
from xclab.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_keep_alive_connections_have_nodelay(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'xclab.db'}"
    upgrade(url)
    app = create_app(Settings(home=tmp_path / "home", database_url=url, _env_file=None))
    port = _free_port()
    config = server_config(app, "127.0.0.1", port)
    assert (config.loop, config.http, config.workers) == ("uvloop", "httptools", 1)
    assert not config.access_log and server_config(app, "127.0.0.1", port, access_log=True).access_log
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(5):  # one keep-alive connection, several requests, a write and reads
                assert client.get("/api/v1/health/live").status_code == 200
            assert client.get("/api/v1/health/ready").status_code == 200
            connections = list(server.server_state.connections)
            assert len(connections) == 1
            sock = connections[0].transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert type(connections[0]).__name__ == "HttpToolsProtocol"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_serve_freezes_its_start_up_heap_before_serving(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`xclab serve` hands uvicorn a heap whose start-up objects the garbage collector no longer walks."""
    from cli import services

    url = f"sqlite:///{tmp_path / 'xclab.db'}"
    upgrade(url)
    for name, value in {
        "XCL_HOME": str(tmp_path / "home"),
        "XCL_DATABASE_URL": url,
        "XCL_API_TOKEN": "t",
    }.items():
        monkeypatch.setenv(name, value)
    services.get_settings.cache_clear()
    loaded_at_freeze: list[bool] = []
    served: list[int] = []
    freeze = gc.freeze

    def run(server: uvicorn.Server) -> None:
        served.append(gc.get_freeze_count())
        server.config.app.state.engine.dispose()

    configs: list[uvicorn.Config] = []
    make_config = services.server_config

    def recorded_config(*args: object, **kwargs: object) -> uvicorn.Config:
        configs.append(make_config(*args, **kwargs))  # type: ignore[arg-type]
        return configs[-1]

    def watched_freeze() -> None:
        loaded_at_freeze.append(configs[-1].loaded)
        freeze()

    monkeypatch.setattr(services, "server_config", recorded_config)
    monkeypatch.setattr(gc, "freeze", watched_freeze)
    monkeypatch.setattr(uvicorn.Server, "run", run)
    gc.unfreeze()
    try:
        services.serve(port=_free_port())
        assert loaded_at_freeze == [True]  # the protocol's modules were imported before the freeze
        assert served[0] > 0  # and uvicorn got a frozen heap
    finally:
        gc.unfreeze()
        services.get_settings.cache_clear()

"""`xclab serve | worker | dashboard`: run one role of the stack in the foreground."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import console
from xclab.settings import get_settings

if TYPE_CHECKING:
    import uvicorn

DASHBOARD_SCRIPT = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """The API's server layout: one process, uvloop and httptools when installed (the `uvicorn[standard]`
    dependency brings both). One process because the app owns its database engine and the stale-run sweeper;
    the event loop sets TCP_NODELAY on every accepted connection, so a keep-alive client's small requests are
    not held back by Nagle's algorithm waiting for a delayed ACK (the ~40 ms stall of a socket bound by hand)."""
    import importlib.util

    import uvicorn

    has = importlib.util.find_spec
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        loop="uvloop" if has("uvloop") else "asyncio",
        http="httptools" if has("httptools") else "h11",
        log_level="info",
    )


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the REST API (refuses a database that is not migrated)."""
    from backend.app import create_app
    from backend.db import SchemaOutOfDate

    try:
        api = create_app(get_settings())
    except SchemaOutOfDate as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    import uvicorn

    uvicorn.Server(server_config(api, host, port)).run()


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "cpu,gpu",
    concurrency: Annotated[int, typer.Option(help="Runs executed at once.")] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, solo or threads.")] = "prefork",
) -> None:
    """Run a Celery worker that executes training runs."""
    from worker.celery_app import create_worker_app

    settings = get_settings()
    if settings.torch_threads is None:
        # Concurrent CPU runs must not oversubscribe the cores.
        settings = settings.model_copy(update={"torch_threads": max(1, (os.cpu_count() or 1) // concurrency)})
    celery = create_worker_app(settings)
    name = f"xclab-{queues.replace(',', '-')}-{os.getpid()}@%h"
    celery.worker_main(
        [
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-P",
            pool,
            "-n",
            name,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def dashboard_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_SCRIPT),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def dashboard(port: Annotated[int | None, typer.Option(help="Default: XCL_DASHBOARD_PORT.")] = None) -> None:
    """Run the Streamlit dashboard (it talks to the API at XCL_API_URL)."""
    raise typer.Exit(subprocess.call(dashboard_command(port or get_settings().dashboard_port)))

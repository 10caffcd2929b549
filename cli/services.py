"""`xclab serve | worker | dashboard`: run one role of the stack in the foreground."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import console
from xclab.settings import get_settings

DASHBOARD_SCRIPT = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the REST API (refuses a database that is not migrated)."""
    import uvicorn

    from backend.app import create_app
    from backend.db import SchemaOutOfDate

    try:
        api = create_app(get_settings())
    except SchemaOutOfDate as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    uvicorn.run(api, host=host, port=port, log_level="info")


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "cpu,gpu",
    concurrency: Annotated[
        int,
        typer.Option(help="Runs executed at once; 1 gives the run every GPU, as multi-GPU (DDP) runs need."),
    ] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, solo or threads.")] = "prefork",
) -> None:
    """Run a Celery worker that executes training runs."""
    from worker import inventory
    from worker.celery_app import create_worker_app

    settings = get_settings()
    queue_list = [q.strip() for q in queues.split(",") if q.strip()]
    gpus = inventory.detect_gpus(settings)
    if gpus and "gpu" in queue_list and concurrency > len(gpus):
        console.print(
            f"[red]error:[/red] --concurrency {concurrency} exceeds this node's {len(gpus)} GPU(s): each run gets "
            "a GPU of its own, so run at most one per GPU"
        )
        raise typer.Exit(2)
    if settings.torch_threads is None:
        # Concurrent CPU runs must not oversubscribe the cores.
        settings = settings.model_copy(update={"torch_threads": max(1, (os.cpu_count() or 1) // concurrency)})
    celery = create_worker_app(settings)
    inventory.install(settings, queue_list, concurrency)
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

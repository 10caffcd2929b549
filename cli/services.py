"""`xclab serve | worker | dashboard`: run one role of the stack in the foreground."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cli.common import console
from xclab.settings import TokenFileError, get_settings

if TYPE_CHECKING:
    import uvicorn

DASHBOARD_SCRIPT = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def server_config(app: Any, host: str, port: int, access_log: bool = False) -> uvicorn.Config:
    """The API's server layout: one process, uvloop and httptools when installed (the `uvicorn[standard]`
    dependency brings both). One process because the app owns its database engine and the stale-run sweeper;
    the event loop sets TCP_NODELAY on every accepted connection, so a keep-alive client's small requests are
    not held back by Nagle's algorithm waiting for a delayed ACK (the ~40 ms stall of a socket bound by hand).

    No line per request unless `access_log` (as gunicorn): a training script logs metrics many times a second,
    and writing each request's line took a fifth of the server's CPU for a one-point write. Errors and the
    server's own messages are logged either way."""
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
        access_log=access_log,
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    insecure_no_auth: Annotated[
        bool, typer.Option("--insecure-no-auth", help="Accept every request without a token (sandbox only).")
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option("--access-log", help="Log a line per request (off: only errors and the server's own)."),
    ] = False,
) -> None:
    """Run the REST API. Refuses a database that is not migrated, and to run without any token unless
    --insecure-no-auth is given."""
    import uvicorn

    from backend.app import create_app
    from backend.db import SchemaOutOfDate
    from backend.store.tokens import has_live_tokens

    settings = get_settings()
    if insecure_no_auth:
        settings = settings.model_copy(update={"insecure_no_auth": True})
    try:
        api = create_app(settings)
    except SchemaOutOfDate as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    if settings.insecure_no_auth:
        console.print(
            "[bold red]WARNING: authentication is OFF.[/bold red] Anyone who can reach "
            f"{host}:{port} can submit, cancel and overwrite anything. Use this only on a machine of your own."
        )
    elif settings.resolved_api_token() is None:
        with api.state.session_factory() as session:
            tokens_exist = has_live_tokens(session)
        if not tokens_exist:
            console.print(
                "[red]error:[/red] refusing to serve without a token: set XCL_API_TOKEN (the admin token), or "
                "create one with `xclab token create --role admin --name me`, or pass --insecure-no-auth "
                "to accept every request (unsafe)"
            )
            raise typer.Exit(2)
    config = server_config(api, host, port, access_log)
    config.load()  # the HTTP protocol's and the lifespan's modules imported now, to be frozen with the rest
    freeze_startup_heap()
    uvicorn.Server(config).run()


def freeze_startup_heap() -> None:
    """Take everything the server has allocated so far (a thousand imported modules, the app) out of the garbage
    collector's reach. A request that parses a 1,000-point batch allocates enough objects to trigger, every few
    dozen such requests, a full collection, which walked all of them: 49 ms added to one request in the tracking
    benchmark's batched ingestion, a tenth of its time. Frozen, the same collection took 1.3 ms. What is made later
    (caches, most of the pool's connections, each request's objects) is collected as usual."""
    gc.collect()  # the garbage of start-up is freed first, not kept for good
    gc.freeze()


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
    try:  # a worker without its token would only fail at its first run: say so now
        settings.resolved_api_token()
    except TokenFileError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
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


def dashboard_command(port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_SCRIPT),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button or developer menu for researchers
    ]


def dashboard(
    port: Annotated[int | None, typer.Option(help="Default: XCL_DASHBOARD_PORT.")] = None,
    host: Annotated[
        str | None, typer.Option(help="Default: XCL_DASHBOARD_HOST (127.0.0.1, this machine only).")
    ] = None,
) -> None:
    """Run the Streamlit dashboard (it talks to the API at XCL_API_URL; visitors log in with a user token)."""
    settings = get_settings()
    command = dashboard_command(port or settings.dashboard_port, host or settings.dashboard_host)
    # Become Streamlit rather than wait on it: stopping `xclab dashboard` (Ctrl-C, SIGTERM, a process manager)
    # then stops the server itself, never leaving an orphan on the port.
    os.execv(command[0], command)

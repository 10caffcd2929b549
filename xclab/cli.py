"""The `xclab` command: serve the API, run workers and the dashboard, bring the stack up, submit and list runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from xclab.settings import Settings, get_settings

app = typer.Typer(
    help="XCL Lab: experiment manager for knowledge distillation and extracurricular learning.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
grid_app = typer.Typer(help="Grids: whole tables of the paper as one submission.", no_args_is_help=True)
app.add_typer(grid_app, name="grid")
console = Console()

STATUS_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def _client(settings: Settings):  # type: ignore[no-untyped-def]
    from worker.client import ApiClient

    return ApiClient(settings.api_url, settings.resolved_api_token())


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database (XCL_DATABASE_URL) to the latest schema."""
    from backend.db import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url, revision)
    console.print(f"database at {revision}: {settings.resolved_database_url}")


@app.command()
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


@app.command()
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


def _dashboard_command(port: int) -> list[str]:
    script = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


@app.command()
def dashboard(port: Annotated[int | None, typer.Option(help="Default: XCL_DASHBOARD_PORT.")] = None) -> None:
    """Run the Streamlit dashboard (it talks to the API at XCL_API_URL)."""
    raise typer.Exit(subprocess.call(_dashboard_command(port or get_settings().dashboard_port)))


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


class Stack:
    """API + worker + dashboard as child processes; stop() ends all three."""

    def __init__(self, settings: Settings, port: int, dashboard_port: int, concurrency: int = 1) -> None:
        self.settings, self.port, self.dashboard_port = settings, port, dashboard_port
        self.concurrency = concurrency
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self) -> str:
        from backend.db import upgrade

        # A SIGTERM (e.g. from a process manager) must stop the children too, like Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)

        self.settings.home.mkdir(parents=True, exist_ok=True)
        upgrade(self.settings.resolved_database_url)
        token = self.settings.ensure_api_token()
        api_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "XCL_API_URL": api_url,
            "XCL_API_TOKEN": token,
            "XCL_HOME": str(self.settings.home),
        }
        logs = self.settings.home / "logs"
        logs.mkdir(exist_ok=True)
        me = [sys.executable, "-m", "xclab"]
        for name, cmd in [
            ("api", [*me, "serve", "--port", str(self.port)]),
            ("worker", [*me, "worker", "--queues", "cpu,gpu", "--concurrency", str(self.concurrency)]),
            ("dashboard", _dashboard_command(self.dashboard_port)),
        ]:
            log = (logs / f"{name}.log").open("ab")
            self.procs.append(
                (
                    name,
                    subprocess.Popen(
                        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    ),
                )
            )
        self._wait_healthy(api_url)
        return token

    def _wait_healthy(self, api_url: str, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(f"{api_url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(
            f"the API did not become healthy within {timeout:.0f} s; see {self.settings.home / 'logs'}"
        )

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode}; see {self.settings.home / 'logs' / name}.log"
                )

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _print_stack(settings: Settings, token: str, port: int, dashboard_port: int) -> None:
    console.print(f"[bold green]XCL Lab is up[/bold green] (data in {settings.home.resolve()})")
    console.print(f"  API        http://127.0.0.1:{port}/api/v1   docs: http://127.0.0.1:{port}/docs")
    console.print(f"  dashboard  http://127.0.0.1:{dashboard_port}")
    console.print(
        f"  API token  {token}   (stored in {settings.token_file}; send as 'Authorization: Bearer <token>')"
    )
    console.print("  logs       " + str(settings.home / "logs") + "   — Ctrl-C stops everything")


@app.command()
def up(port: int = 8000, dashboard_port: int = 8501) -> None:
    """API + one worker + dashboard on the embedded defaults (SQLite, filesystem broker). Ctrl-C stops all three."""
    settings = get_settings()
    stack = Stack(settings, port, dashboard_port)
    try:
        token = stack.start()
        _print_stack(settings, token, port, dashboard_port)
        while True:
            stack.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stack.stop()


DEMO_GRIDS = "digits-paper,synthetic-gaze-paper"


@app.command()
def demo(
    port: int = 8000,
    dashboard_port: int = 8501,
    grids: Annotated[str, typer.Option(help="Comma-separated built-in grids to run.")] = DEMO_GRIDS,
    concurrency: Annotated[int, typer.Option(help="Runs trained at once (default: one per CPU core).")] = 0,
    results: Annotated[
        Path | None, typer.Option(help="Also write the reports as Markdown to this file.")
    ] = None,
    exit_when_done: Annotated[bool, typer.Option(help="Stop the stack once the grids finish.")] = False,
) -> None:
    """Bring the stack up, run the paper's digits and synthetic-gaze grids, print their tables, keep serving."""
    settings = get_settings()
    stack = Stack(settings, port, dashboard_port, concurrency or max(1, os.cpu_count() or 1))
    try:
        token = stack.start()
        _print_stack(settings, token, port, dashboard_port)
        settings = settings.model_copy(update={"api_url": f"http://127.0.0.1:{port}", "api_token": token})
        started = time.monotonic()
        with _client(settings) as client:
            submitted = []
            for name in grids.split(","):
                grid = client.submit_grid(_grid_definition(f"builtin:{name.strip()}"))
                _print_grid(grid)
                submitted.append(grid)
            console.print(f"follow along in the dashboard: http://127.0.0.1:{dashboard_port}")
            reports = []
            for grid in submitted:
                final = _follow_grid(client, grid["id"], stack)
                _print_grid(final)
                reports.append(client.grid_report(grid["id"], "markdown"))
                console.print(reports[-1], markup=False, highlight=False, soft_wrap=True)
        minutes = (time.monotonic() - started) / 60
        console.print(f"[green]demo grids finished in {minutes:.1f} min[/green]")
        if results:
            results.parent.mkdir(parents=True, exist_ok=True)
            results.write_text(_results_document(grids, reports, minutes, stack.concurrency))
            console.print(f"wrote {results}")
        if not exit_when_done:
            console.print(f"open http://127.0.0.1:{dashboard_port} to explore; Ctrl-C stops everything")
            while True:
                stack.check_alive()
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stack.stop()


def _results_document(grids: str, reports: list[str], minutes: float, concurrency: int) -> str:
    import platform

    header = (
        "# Measured results of the demo grids\n\n"
        "Regenerate with:\n\n"
        f"```bash\nxclab demo --grids {grids} --exit-when-done --results docs/results.md\n```\n\n"
        f"Measured on {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), {concurrency} runs at "
        f"a time; the grids took {minutes:.1f} minutes end to end. Every number below is a last-epoch metric on the "
        "test split (held-out persons for gaze), aggregated over the seeds listed in each caption; nothing was "
        "selected on the test split.\n\n"
    )
    return header + "\n\n".join(reports)


def _follow(client: Any, run_id: int, stack: Stack | None = None, timeout: float = 1800) -> dict[str, Any]:
    from rich.progress import Progress

    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"run {run_id}", total=None)
        while time.monotonic() < deadline:
            if stack:
                stack.check_alive()
            run = client.get_run(run_id)
            epochs = run["hparams"].get("epochs")
            key = run["primary_metric"]
            if key in run["summary"] and epochs:
                progress.update(bar, total=epochs, completed=len(client.metric_history(run_id, key)))
            progress.update(bar, description=f"run {run_id} {run['status']}")
            if run["status"] in {"succeeded", "failed", "cancelled"}:
                return run
            time.sleep(1)
    raise RuntimeError(f"run {run_id} did not finish within {timeout:.0f} s")


def _experiment_id(client: Any, name: str) -> int:
    for experiment in client.list_experiments():
        if experiment["name"] == name:
            return experiment["id"]
    return client.create_experiment(name)["id"]


def _load_spec_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist")
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} must hold a mapping: a spec, or {{experiment, spec, queue}}")
    return data


@app.command()
def submit(
    file: Path,
    experiment: Annotated[str | None, typer.Option(help="Experiment name (created if missing).")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run until it finishes.")] = False,
) -> None:
    """Submit a run from a YAML or JSON file: a spec, or {experiment, spec, queue}."""
    from worker.client import ApiError

    data = _load_spec_file(file)
    spec = data.get("spec", data)
    settings = get_settings()
    with _client(settings) as client:
        try:
            experiment_id = _experiment_id(client, experiment or data.get("experiment", "default"))
            run = client.submit_run(experiment_id, spec, data.get("queue"))
        except ApiError as exc:
            _print_api_error(exc)
            raise typer.Exit(1)
        console.print(
            f"run {run['id']} {run['status']} (experiment {experiment_id}); {settings.api_url}/api/v1/runs/{run['id']}"
        )
        if wait:
            final = _follow(client, run["id"])
            console.print(f"run {run['id']} {final['status']}: {final['summary'] or final.get('error')}")


def _print_api_error(exc: Any) -> None:
    if isinstance(exc.detail, list):
        for err in exc.detail:
            console.print(f"[red]{'.'.join(str(p) for p in err.get('loc', []))}[/red]: {err.get('msg')}")
    else:
        console.print(f"[red]error {exc.status_code}[/red]: {exc.detail}")


@app.command()
def runs(
    experiment: Annotated[int | None, typer.Option(help="Experiment id.")] = None,
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    limit: int = 50,
) -> None:
    """List runs as a table."""
    with _client(get_settings()) as client:
        page = client.list_runs(experiment_id=experiment, status=status, limit=limit)
    table = Table("id", "exp", "task", "model", "method", "status", "attempt", "primary metric", "error")
    for run in page["data"]:
        key = run["primary_metric"]
        value = run["summary"].get(key) if key else None
        style = STATUS_STYLE.get(run["status"], "")
        table.add_row(
            str(run["id"]),
            str(run["experiment_id"]),
            run["task"],
            f"{run['model']}×{run['spec']['model']['width']:g}",
            run["method"],
            f"[{style}]{run['status']}[/{style}]",
            str(run["attempt"]),
            f"{key}={value:.2f}" if value is not None else "",
            (run["error"] or "")[:60],
        )
    console.print(table)
    if page["next_page_token"]:
        console.print(f"(more runs; raise --limit above {limit})")


@app.command()
def train(
    file: Path,
    out: Annotated[Path, typer.Option(help="Folder for the checkpoint and final model.")] = Path(
        ".xclab/local"
    ),
    device: Annotated[str | None, typer.Option(help="cpu or cuda; default: cuda when available.")] = None,
    teacher_checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            help="A teacher's model.pt (repeat per member); default: fetch the spec's teachers from the API."
        ),
    ] = None,
    generator_checkpoint: Annotated[Path | None, typer.Option(help="XCL-GAN generator's model.pt.")] = None,
) -> None:
    """Train one spec locally, with no server: the same engine the workers run."""
    from pydantic import ValidationError

    from worker.training.trainer import train as run_training
    from xclab.spec import RunSpec, check_spec, resolve_hparams

    data = _load_spec_file(file)
    try:
        spec = RunSpec.model_validate(data.get("spec", data))
    except ValidationError as exc:
        console.print(f"[red]invalid spec[/red]:\n{exc}")
        raise typer.Exit(1)
    issues = check_spec(spec)
    if issues:
        for issue in issues:
            console.print(f"[red]{'.'.join(map(str, issue.loc))}[/red]: {issue.msg}")
        raise typer.Exit(1)
    hparams = resolve_hparams(spec)
    teachers = list(teacher_checkpoint or [])
    generator_run = spec.method.params.get("generator_run")
    if (spec.teachers and not teachers) or (generator_run is not None and generator_checkpoint is None):
        from worker.runner import fetch_checkpoint

        settings = get_settings()
        with _client(settings) as client:
            if spec.teachers and not teachers:
                teachers = [fetch_checkpoint(client, t, settings) for t in spec.teachers]
            if generator_run is not None and generator_checkpoint is None:
                generator_checkpoint = fetch_checkpoint(client, generator_run, settings)
    result = run_training(
        spec,
        hparams,
        out,
        device=device,
        progress=True,
        teacher_paths=teachers,
        generator_path=generator_checkpoint,
    )
    table = Table("metric", "value", title=f"{spec.method.name} / {spec.model.name} on {spec.task}")
    for key, value in result.final_metrics.items():
        table.add_row(key, f"{value:.4g}")
    console.print(table)
    console.print(f"model saved to {result.model_path}")


def _grid_definition(source: str) -> dict[str, Any]:
    """A grid file path, or builtin:NAME for one shipped with XCL Lab."""
    from xclab.grids import builtin_grids, load_grid_text

    if source.startswith("builtin:"):
        grids = builtin_grids()
        name = source.removeprefix("builtin:")
        if name not in grids:
            raise typer.BadParameter(f"no built-in grid '{name}'; available: {', '.join(sorted(grids))}")
        return load_grid_text(grids[name])
    return _load_spec_file(Path(source))


def _print_grid(grid: dict[str, Any]) -> None:
    counts = ", ".join(
        f"{STATUS_STYLE.get(k) and f'[{STATUS_STYLE[k]}]{k}[/]' or k} {v}"
        for k, v in sorted(grid["counts"].items())
    )
    console.print(
        f"grid {grid['id']} [bold]{grid['name']}[/bold] ({grid['task']}): {len(grid['cells'])} runs — {counts}"
    )


def _follow_grid(
    client: Any, grid_id: int, stack: Stack | None = None, timeout: float = 6 * 3600
) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    deadline = time.monotonic() + timeout
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(f"grid {grid_id}", total=None)
        while time.monotonic() < deadline:
            if stack:
                stack.check_alive()
            grid = client.grid(grid_id)
            finished = sum(grid["counts"].get(s, 0) for s in ("succeeded", "failed", "cancelled"))
            running = grid["counts"].get("running", 0)
            waiting = grid["counts"].get("waiting", 0)
            progress.update(
                bar,
                total=len(grid["cells"]),
                completed=finished,
                description=f"{grid['name']}: {running} running, {waiting} waiting on teachers",
            )
            if grid["done"]:
                return grid
            time.sleep(1)
    raise RuntimeError(f"grid {grid_id} did not finish within {timeout:.0f} s")


@grid_app.command("submit")
def grid_submit(
    source: Annotated[str, typer.Argument(help="A grid YAML/JSON file, or builtin:NAME.")],
    wait: Annotated[bool, typer.Option(help="Follow the grid and print its report at the end.")] = False,
) -> None:
    """Expand a grid into runs (teachers first; students wait for them)."""
    from worker.client import ApiError

    definition = _grid_definition(source)
    with _client(get_settings()) as client:
        try:
            grid = client.submit_grid(definition)
        except ApiError as exc:
            _print_api_error(exc)
            raise typer.Exit(1)
        _print_grid(grid)
        if wait:
            _follow_grid(client, grid["id"])
            console.print(client.grid_report(grid["id"], "markdown"))


@grid_app.command("list")
def grid_list() -> None:
    """List grids with their cell counts."""
    with _client(get_settings()) as client:
        for grid in client.grids():
            _print_grid(grid)


@grid_app.command("builtin")
def grid_builtin() -> None:
    """Name every built-in grid (submit one with `xclab grid submit builtin:NAME`)."""
    from xclab.grids import builtin_grids, load_grid_text

    table = Table("name", "task", "description")
    for name, text in sorted(builtin_grids().items()):
        data = load_grid_text(text)
        table.add_row(name, data["task"], data.get("description", ""))
    console.print(table)


@grid_app.command("show")
def grid_show(grid_id: int) -> None:
    """Every cell of a grid with its run, status and primary metric."""
    with _client(get_settings()) as client:
        grid = client.grid(grid_id)
    _print_grid(grid)
    table = Table("cell", "run", "status", "attempt", "primary metric", "error")
    for cell in grid["cells"]:
        style = STATUS_STYLE.get(cell["status"], "")
        value = cell["primary_metric"]
        table.add_row(
            cell["key"],
            str(cell["run_id"]),
            f"[{style}]{cell['status']}[/{style}]" if style else cell["status"],
            str(cell["attempt"]),
            "" if value is None else f"{value:.2f}",
            (cell["error"] or "")[:60],
        )
    console.print(table)


@grid_app.command("retry")
def grid_retry(grid_id: int) -> None:
    """Re-enqueue only the failed or cancelled cells of a grid."""
    with _client(get_settings()) as client:
        _print_grid(client.retry_grid(grid_id))


@grid_app.command("report")
def grid_report(
    grid_id: int,
    format: Annotated[str, typer.Option(help="markdown, latex, csv or json.")] = "markdown",  # noqa: A002
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of the terminal.")] = None,
) -> None:
    """The paper-style table of a grid."""
    with _client(get_settings()) as client:
        text = client.grid_report(grid_id, format)
    if out:
        out.write_text(text if isinstance(text, str) else json.dumps(text, indent=2))
        console.print(f"wrote {out}")
    else:
        console.print(
            text if isinstance(text, str) else json.dumps(text, indent=2), markup=False, highlight=False
        )


def main() -> None:
    app()

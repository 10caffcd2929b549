"""`xclab submit | runs | train`: one run at a time, through the API or locally with no server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import Progress
from rich.table import Table

from cli.common import FINAL_STATUSES, STATUS_STYLE, console, load_spec_file, open_client
from xclab.client import ApiClient
from xclab.settings import get_settings
from xclab.spec import RunSpec, check_spec, resolve_hparams


def follow_run(client: ApiClient, run_id: int, timeout: float = 1800) -> dict[str, Any]:
    """Show the run's progress (epochs of its primary metric) until it finishes."""
    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"run {run_id}", total=None)
        while time.monotonic() < deadline:
            run = client.get_run(run_id)
            epochs = run["hparams"].get("epochs")
            key = run["primary_metric"]
            if key in run["summary"] and epochs:
                progress.update(bar, total=epochs, completed=len(client.get_metric_history(run_id, key)))
            progress.update(bar, description=f"run {run_id} {run['status']}")
            if run["status"] in FINAL_STATUSES:
                return run
            time.sleep(1)
    raise RuntimeError(f"run {run_id} did not finish within {timeout:.0f} s")


def experiment_id(client: ApiClient, name: str) -> int:
    """The experiment of that name, created if missing."""
    for experiment in client.list_experiments():
        if experiment["name"] == name:
            return experiment["id"]
    return client.create_experiment(name)["id"]


def submit(
    file: Path,
    experiment: Annotated[str | None, typer.Option(help="Experiment name (created if missing).")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run until it finishes.")] = False,
) -> None:
    """Submit a run from a YAML or JSON file: a spec, or {experiment, spec, queue}."""
    data = load_spec_file(file)
    spec = data.get("spec", data)
    settings = get_settings()
    with open_client(settings) as client:
        chosen = experiment_id(client, experiment or data.get("experiment", "default"))
        run = client.submit_run(chosen, spec, data.get("queue"))
        console.print(
            f"run {run['id']} {run['status']} (experiment {chosen}); {settings.api_url}/api/v1/runs/{run['id']}"
        )
        if wait:
            final = follow_run(client, run["id"])
            console.print(f"run {run['id']} {final['status']}: {final['summary'] or final.get('error')}")


def runs(
    experiment: Annotated[int | None, typer.Option(help="Experiment id.")] = None,
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    limit: int = 50,
) -> None:
    """List runs as a table."""
    with open_client(get_settings()) as client:
        page = client.list_runs(experiment_id=experiment, status=[status] if status else None, limit=limit)
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
    # The worker role's packages (torch) load only for this command.
    from worker.runner import fetch_checkpoint
    from worker.training.trainer import train as run_training

    data = load_spec_file(file)
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
        settings = get_settings()
        with open_client(settings) as client:
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
        data_root=get_settings().data_root,
        cache_dir=get_settings().resolved_cache_dir,
    )
    table = Table("metric", "value", title=f"{spec.method.name} / {spec.model.name} on {spec.task}")
    for key, value in result.final_metrics.items():
        table.add_row(key, f"{value:.4g}")
    console.print(table)
    console.print(f"model saved to {result.model_path}")

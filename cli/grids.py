"""`xclab grid ...`: whole tables of the paper as one submission, followed and reported."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import STATUS_STYLE, console, load_spec_file, open_client
from xclab.client import ApiClient
from xclab.grids import builtin_grids, load_grid_text
from xclab.settings import get_settings

FORMATS = ("markdown", "latex", "csv", "json", "summary", "supplement")

grid_app = typer.Typer(help="Grids: whole tables of the paper as one submission.", no_args_is_help=True)


def grid_definition(source: str) -> dict[str, Any]:
    """A grid file path, or builtin:NAME for one shipped with XCL Lab."""
    if source.startswith("builtin:"):
        grids = builtin_grids()
        name = source.removeprefix("builtin:")
        if name not in grids:
            raise typer.BadParameter(f"no built-in grid '{name}'; available: {', '.join(sorted(grids))}")
        return load_grid_text(grids[name])
    return load_spec_file(Path(source))


def print_grid(grid: dict[str, Any]) -> None:
    counts = ", ".join(
        f"{STATUS_STYLE.get(k) and f'[{STATUS_STYLE[k]}]{k}[/]' or k} {v}"
        for k, v in sorted(grid["counts"].items())
    )
    console.print(
        f"grid {grid['id']} [bold]{grid['name']}[/bold] ({grid['task']}): {len(grid['cells'])} runs — {counts}"
    )


def follow_grid(
    client: ApiClient,
    grid_id: int,
    check_alive: Callable[[], None] | None = None,
    timeout: float = 6 * 3600,
) -> dict[str, Any]:
    """Show the grid's progress until every cell has finished; check_alive may stop it early by raising."""
    deadline = time.monotonic() + timeout
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(f"grid {grid_id}", total=None)
        while time.monotonic() < deadline:
            if check_alive:
                check_alive()
            grid = client.get_grid(grid_id)
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
    definition = grid_definition(source)
    with open_client(get_settings()) as client:
        grid = client.submit_grid(definition)
        print_grid(grid)
        if wait:
            follow_grid(client, grid["id"])
            console.print(client.get_grid_report_text(grid["id"], "markdown"))


@grid_app.command("list")
def grid_list() -> None:
    """List grids with their cell counts."""
    with open_client(get_settings()) as client:
        for grid in client.list_grids():
            print_grid(grid)


@grid_app.command("builtin")
def grid_builtin() -> None:
    """Name every built-in grid (submit one with `xclab grid submit builtin:NAME`)."""
    table = Table("name", "task", "description")
    for name, text in sorted(builtin_grids().items()):
        data = load_grid_text(text)
        table.add_row(name, data["task"], data.get("description", ""))
    console.print(table)


@grid_app.command("show")
def grid_show(grid_id: int) -> None:
    """Every cell of a grid with its run, status and primary metric."""
    with open_client(get_settings()) as client:
        grid = client.get_grid(grid_id)
    print_grid(grid)
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
    with open_client(get_settings()) as client:
        print_grid(client.retry_grid(grid_id))


@grid_app.command("report")
def grid_report(
    grid_id: int,
    format: Annotated[  # noqa: A002
        str,
        typer.Option(
            help="markdown, latex, csv, json, summary (one line per paired comparison), or supplement (a "
            "built-in grid's rows as the supplement's tables, in Markdown, with the paper's numbers beside ours)."
        ),
    ] = "markdown",
    baseline: Annotated[
        list[str] | None,
        typer.Option(
            help="Compare every row with this one, seed by seed (repeatable): 'kd' (the KD reference, chosen "
            "on validation), 'erm' or any method label of the grid. Default: kd and erm."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of the terminal.")] = None,
) -> None:
    """The paper-style table of a grid: mean ± std and 95 % CI, gaps, paired differences with tests."""
    if format not in FORMATS:
        raise typer.BadParameter(f"format must be one of {', '.join(FORMATS)}", param_hint="--format")
    with open_client(get_settings()) as client:
        if format == "json":
            text = json.dumps(client.get_grid_report(grid_id, baseline), indent=2)
        else:
            text = client.get_grid_report_text(grid_id, format, baseline)
    if out:
        out.write_text(text)
        console.print(f"wrote {out}")
    else:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

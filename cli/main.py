"""The `xclab` command's root: its command groups composed into one Typer app, and the entry point."""

from __future__ import annotations

import typer

from cli import rerun, runs, services, stack
from cli.common import print_api_error
from cli.db import db_app
from cli.grids import grid_app
from cli.tokens import token_app
from xclab.client import ApiError

app = typer.Typer(
    help="XCL Lab: experiment manager for knowledge distillation and extracurricular learning.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(grid_app, name="grid")
app.add_typer(token_app, name="token")
for command in (
    services.serve,
    services.worker,
    services.dashboard,
    stack.up,
    stack.demo,
    runs.submit,
    runs.runs,
    runs.train,
    rerun.rerun,
):
    app.command()(command)


def main() -> None:
    """Console-script entry point: an API refusal or outage is one readable message and exit status 1."""
    try:
        app(prog_name="xclab")  # also under `python -m cli`
    except ApiError as exc:
        print_api_error(exc)
        raise SystemExit(1) from None

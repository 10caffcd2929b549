"""What every command group shares: the console, status colours, the API client and spec files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from xclab.client import ApiClient, ApiError
from xclab.settings import Settings

console = Console()

STATUS_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
}
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


def open_client(settings: Settings) -> ApiClient:
    return ApiClient.from_settings(settings)


def load_spec_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist")
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} must hold a mapping: a spec, or {{experiment, spec, queue}}")
    return data


def print_api_error(exc: ApiError) -> None:
    """A 422 as one line per field; anything else as its status and detail."""
    if exc.field_errors:
        for err in exc.field_errors:
            console.print(
                f"[red]{escape('.'.join(str(p) for p in err.get('loc', [])))}[/red]: {escape(err['msg'])}"
            )
    elif exc.status_code is None:
        console.print(f"[red]error[/red]: {escape(exc.message)}")
    else:
        console.print(f"[red]error {exc.status_code}[/red]: {escape(str(exc.detail))}")

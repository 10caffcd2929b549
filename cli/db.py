"""`xclab db ...`: database commands."""

from __future__ import annotations

import typer

from cli.common import console
from xclab.settings import get_settings

db_app = typer.Typer(help="Database commands.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database (XCL_DATABASE_URL) to the latest schema."""
    from backend.db import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url, revision)
    console.print(f"database at {revision}: {settings.resolved_database_url}")

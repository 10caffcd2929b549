"""`xclab token create | list | revoke`: API tokens with a role, managed on the database (XCL_DATABASE_URL)
directly, so the first tokens can be made before any server runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.common import console
from xclab.settings import Settings, get_settings

token_app = typer.Typer(
    help="API tokens: admin, user (researchers, the dashboard), worker.", no_args_is_help=True
)


def issue_token(settings: Settings, name: str, role: str, *, replace: bool = False) -> str:
    """Create a token (revoking live ones of the same name first when `replace`); returns the token."""
    from backend.db import make_engine, make_session_factory
    from backend.store import tokens
    from backend.unit_of_work import unit_of_work

    engine = make_engine(settings.resolved_database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as uow:
            if replace:
                for old in tokens.list_tokens(uow.session):
                    if old.name == name:
                        tokens.revoke_token(uow.session, old.id)
            _, token = tokens.create_token(uow.session, name, role)
    finally:
        engine.dispose()
    return token


@token_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="admin, user or worker.")],
    name: Annotated[str, typer.Option(help="Who or what holds it, e.g. 'alice' or 'gpu-box-1'.")],
) -> None:
    """Create a token and print it (shown once: only its sha256 is stored)."""
    if role not in {"admin", "user", "worker"}:
        console.print(f"[red]error:[/red] --role must be admin, user or worker, not '{role}'")
        raise typer.Exit(2)
    token = issue_token(get_settings(), name, role)
    console.print(token, markup=False, highlight=False)


def ensure_token_file(settings: Settings, name: str, role: str, file: Path) -> tuple[bool, str]:
    """Leave `file` alone when it holds a live token of `role`; otherwise issue a new one (revoking live tokens of
    that name, whose value is lost) and write it to `file` (mode 0600, renamed into place whole). Returns (whether
    a token was issued, what was done)."""
    from backend.db import make_engine, make_session_factory
    from backend.store import tokens
    from xclab.settings import TokenFileError, read_token_file

    current = None
    if file.exists():
        try:
            current = read_token_file(file)
        except TokenFileError:
            current = None  # replaced below
    if current is not None:
        engine = make_engine(settings.resolved_database_url)
        try:
            with make_session_factory(engine)() as session:
                row = tokens.find_token(session, current)
                found = (row.id, row.name, row.role) if row is not None else None
        finally:
            engine.dispose()
        if found is not None and found[2] == role:
            file.chmod(0o600)
            return False, f"kept token {found[0]} ({found[1]}, {role}) in {file}"
    token = issue_token(settings, name, role, replace=True)
    _write_private(file, token)
    return True, f"issued a new {role} token '{name}' into {file}"


def _write_private(file: Path, token: str) -> None:
    """Owner-only from its first byte (no window where another user could read it), then renamed over `file`."""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o600)  # the umask may have narrowed it further, never widened it: make it exact
        tmp.replace(file)
    finally:
        tmp.unlink(missing_ok=True)


@token_app.command("ensure")
def ensure(
    role: Annotated[str, typer.Option(help="admin, user or worker.")],
    name: Annotated[str, typer.Option(help="Who or what holds it, e.g. 'compose-worker'.")],
    file: Annotated[
        Path, typer.Option(help="Where the token is kept (mode 0600), e.g. for XCL_API_TOKEN_FILE.")
    ],
) -> None:
    """Make sure FILE holds a live token of ROLE: keep it if it does, else issue one (revoking live tokens of NAME)
    and write it there. Safe to repeat, e.g. as a one-shot container step at every start; never prints the token."""
    if role not in {"admin", "user", "worker"}:
        console.print(f"[red]error:[/red] --role must be admin, user or worker, not '{role}'")
        raise typer.Exit(2)
    _, message = ensure_token_file(get_settings(), name, role, file)
    console.print(message, markup=False, highlight=False)


@token_app.command("list")
def list_(all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False) -> None:
    """Tokens (never their values)."""
    from backend.db import make_engine, make_session_factory
    from backend.store import tokens

    engine = make_engine(get_settings().resolved_database_url)
    table = Table("id", "name", "role", "created", "revoked")
    with make_session_factory(engine)() as session:
        for t in tokens.list_tokens(session, include_revoked=all_):
            revoked = t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""
            table.add_row(str(t.id), t.name, t.role, t.created_at.isoformat(timespec="seconds"), revoked)
    engine.dispose()
    console.print(table)


@token_app.command("revoke")
def revoke(token_id: int) -> None:
    """Revoke a token by id: it is refused from the next request on."""
    from backend.db import make_engine, make_session_factory
    from backend.errors import NotFound
    from backend.store import tokens
    from backend.unit_of_work import unit_of_work

    engine = make_engine(get_settings().resolved_database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as uow:
            row = tokens.revoke_token(uow.session, token_id)
            console.print(f"revoked token {row.id} ({row.name}, {row.role})")
    except NotFound as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()

"""Engine, sessions and the schema check that keeps a server off an un-migrated database.

Commits belong to `backend.unit_of_work`. The Alembic scripts are found by their folder, never imported: the
migrations import the backend's models, so the backend must not import the migrations back. Alembic itself is
imported only to migrate, not by a serving process.
"""

from __future__ import annotations

import ast
import json
import re
import select
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json
from sqlalchemy import Dialect, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

# The `migrations` folder next to `backend` (in a checkout and in an installed wheel alike).
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def load_json(text: str | bytes) -> Any:
    """A stored JSON column's value, parsed by pydantic-core's parser: 5-15 times faster than `json.loads` per
    value (a 100-run page reads two or three per run), with the same values (floats to the bit, big integers,
    NaN and Infinity, the last of duplicate keys). What it refuses and `json.loads` reads (nesting past 200
    levels, a lone surrogate escape) is read by `json.loads`, so nothing stored becomes unreadable."""
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_deserializer=load_json
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            sqlite_pragmas(dbapi_connection, busy_ms=30_000)

        return engine
    # Another driver's connections this module cannot look into: the pool pings each one it hands out.
    polled = make_url(url).get_dialect().driver in _POLLED_DRIVERS
    engine = create_engine(
        url, pool_pre_ping=not polled, pool_size=10, max_overflow=20, json_deserializer=load_json
    )
    if polled:
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _checkout_check(engine.dialect))
    return engine


_POLLED_DRIVERS = frozenset({"psycopg", "psycopg2"})
# A pooled connection idle longer than this is pinged when handed out; one used more recently is only looked at.
# Firewalls and load balancers drop idle connections after minutes; a request that comes back within half a
# minute finds its connection as it left it, unless the server closed it, which the socket shows.
PING_AFTER_IDLE_SECONDS = 30.0
_RETURNED_AT = "returned_at"


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _checkout_check(dialect: Dialect) -> Callable[[Any, Any, Any], None]:
    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """The pool's check of a connection it hands out, instead of a ping round trip every time (a tenth to half
        a millisecond a request here). One back in the pool for a moment is only looked at: an idle connection has
        nothing to read, so a readable socket means the server closed it (a restart, a terminated backend) or,
        rarely, sent something unasked, which a ping tells apart. One idle for longer is pinged: a peer gone
        without closing (a rebooted host, a firewall dropping idle connections) leaves nothing to read. Raising
        `InvalidatePoolError` does what a failed pre-ping does: this connection is replaced, and at their next
        checkout those the pool opened before it."""
        returned_at = record.info.get(_RETURNED_AT)  # None: a connection just opened
        recent = returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS
        if recent and not has_input(dbapi_connection):
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            raise InvalidatePoolError("the database closed this pooled connection")

    return check


def has_input(dbapi_connection: Any) -> bool:
    """Whether an idle connection is closed or has something to read, without a round trip."""
    if dbapi_connection.closed:
        return True
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def sqlite_pragmas(dbapi_connection: Any, busy_ms: int) -> None:
    """Every SQLite connection's settings (the engine's and `store.sqlite_loop_writer`'s): WAL lets the dashboard
    read while a worker's metrics are written; foreign keys are off by default; a lock is waited for `busy_ms`."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads that write nothing. On PostgreSQL their connections are in autocommit: each statement
    sees the data committed when it starts, as it would in a READ COMMITTED transaction (which takes a snapshot
    per statement), without the transaction's BEGIN and COMMIT round trips. Elsewhere, `make_session_factory`'s.
    It refuses to write (in autocommit its writes would not be one unit of work): a changed object fails the flush,
    an insert, update or delete through the session fails before it is sent. (The driver's own cursor is not
    watched: only the store's hot paths use it, each in its own unit of work.)"""
    if engine.dialect.name != "postgresql":
        factory = make_session_factory(engine)
    else:
        factory = sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
    event.listen(factory, "before_flush", _refuse_changes)
    event.listen(factory, "do_orm_execute", _refuse_statements)
    return factory


class ReadSessionWrite(RuntimeError):
    """An object was added, changed or deleted in a read session: a bug in the route, not the caller's."""


def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.deleted or any(session.is_modified(obj) for obj in session.dirty):
        raise ReadSessionWrite(_READ_ONLY)


def _refuse_statements(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadSessionWrite(_READ_ONLY)


_READ_ONLY = "a read session writes nothing: use a unit of work's session (SessionDep)"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# Foreign keys the models declare that PostgreSQL enforces with triggers instead, checked once per statement
# rather than once per row (migration 0013): a comparison of models and database leaves them out there.
TRIGGER_CHECKED_ON_POSTGRESQL = frozenset({"fk_metric_run_id_run"})


def compared_in_schema(dialect_name: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's `include_object` for comparing the models with a database of this dialect."""

    def include(_object: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
        return not (
            dialect_name == "postgresql"
            and type_ == "foreign_key_constraint"
            and name in TRIGGER_CHECKED_ON_POSTGRESQL
        )

    return include


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    make_engine(url).dispose()  # creates the SQLite folder if needed
    command.upgrade(alembic_config(url), revision)


# A migration script's `revision = "..."` and `down_revision = ...` lines, as Alembic's template writes them.
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def head_revision() -> str | None:
    """The head of the migration scripts, read from their revision lines: importing Alembic to ask it costs the
    API process about 12 MiB it would keep while serving (tests check this against Alembic's own answer)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = dict(_REVISION_LINE.findall(path.read_text()))
        if "revision" not in found:
            continue
        revisions.add(ast.literal_eval(found["revision"]))
        down = ast.literal_eval(found.get("down_revision", "None"))
        parents.update(down if isinstance(down, tuple | list) else [down] if down else [])
    heads = revisions - parents
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {sorted(heads)}")
    return heads.pop() if heads else None


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated), read as Alembic stores it."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


class SchemaOutOfDate(RuntimeError):
    pass


def verify_schema(engine: Engine) -> None:
    """Refuse to serve a database that is not at the Alembic head, and say how to fix it."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database {engine.url.render_as_string(hide_password=True)} is at revision {current or 'none (empty)'}, "
            f"but this version of XCL Lab needs {head}. Run `xclab db upgrade` (same XCL_DATABASE_URL) first."
        )

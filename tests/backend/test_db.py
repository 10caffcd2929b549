"""The schema check that keeps a server off an un-migrated database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, insert, make_url, select, text, update

from backend import db as db_module
from backend.db import (
    ReadSessionWrite,
    SchemaOutOfDate,
    has_input,
    load_json,
    make_engine,
    make_read_session_factory,
    make_session_factory,
    verify_schema,
)
from backend.models import Experiment
from backend.store import experiments
from tests.support import terminate_backends
from xclab.settings import Settings


def test_server_refuses_unmigrated_database(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDate, match="xclab db upgrade"):
        verify_schema(engine)


def test_a_serving_process_does_not_import_alembic(settings: Settings) -> None:
    """Alembic is for migrating; in the API process it would only hold memory (about 12 MiB)."""
    code = (
        "import sys; import cli.main; from backend.app import create_app; from xclab.settings import Settings; "
        f"create_app(Settings(home={str(settings.home)!r}, database_url={settings.resolved_database_url!r}, "
        "api_token='t' * 20, _env_file=None)); print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@contextmanager
def _engine_with_experiment(database_url: str, name: str) -> Iterator[Engine]:
    """An engine on the test database, which holds one experiment, committed; disposed afterwards."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as writer:
            experiments.create_experiment(writer, name, "")
            writer.commit()
        yield engine
    finally:
        engine.dispose()


def test_read_sessions_open_no_transaction_on_postgresql(database_url: str) -> None:
    """A read session's statements run in autocommit on PostgreSQL (no BEGIN or COMMIT round trips) and still see
    what other sessions committed; elsewhere it is an ordinary session."""
    with (
        _engine_with_experiment(database_url, "seen") as engine,
        make_read_session_factory(engine)() as reader,
    ):
        names = reader.execute(text("SELECT name FROM experiment")).scalars().all()
        driver = reader.connection().connection.dbapi_connection
        # psycopg: autocommit, and no transaction open after a statement (TransactionStatus.IDLE is 0).
        state = (driver.autocommit, driver.info.transaction_status) if hasattr(driver, "info") else None
    assert names == ["seen"]
    assert state == ((True, 0) if database_url.startswith("postgresql") else None)


@pytest.mark.parametrize(
    "text",
    [
        '{"lr": 0.1, "wd": 5e-4, "tiny": 4.9406564584124654e-324, "big": 123456789012345678901234567890}',
        '{"a": 1, "a": 2, "nested": {"list": [true, false, null, -0.0, "\\u00e9\\ud83d\\ude00"]}}',
        "[NaN, Infinity, -Infinity, 1e400]",
        "[" * 300 + "]" * 300,  # deeper than pydantic-core parses: read by json.loads
        '"\\ud800"',  # a lone surrogate escape, the same
    ],
)
def test_stored_json_reads_as_json_loads_reads_it(text: str) -> None:
    expected, got = json.loads(text), load_json(text)
    assert repr(got) == repr(expected)  # repr: NaN compares unequal to itself, -0.0 equal to 0.0


def test_a_read_session_refuses_to_write(database_url: str) -> None:
    """A route given a read session (`ReadSessionDep`) that wrote would, on PostgreSQL, commit each statement
    alone: a changed object fails the flush, a write statement fails before it is sent, and nothing is stored."""
    with _engine_with_experiment(database_url, "kept") as engine:
        with make_read_session_factory(engine)() as reader:
            reader.add(Experiment(name="added", description=""))
            with pytest.raises(ReadSessionWrite):
                reader.flush()
            reader.rollback()
            kept = reader.scalars(select(Experiment)).one()
            kept.description = "changed"
            with pytest.raises(ReadSessionWrite):
                reader.commit()
            reader.rollback()
            kept.description = kept.description  # set to what it was: not a change
            reader.commit()
            with pytest.raises(ReadSessionWrite):  # a statement, not an object: refused before it is sent
                reader.execute(update(Experiment).values(description="changed"))
            with pytest.raises(ReadSessionWrite):
                reader.execute(insert(Experiment).values(name="inserted", description=""))
            reader.rollback()
            assert reader.scalars(select(Experiment.name)).all() == ["kept"]  # reading is still fine
        with make_session_factory(engine)() as check:
            assert [(e.name, e.description) for e in check.scalars(select(Experiment))] == [("kept", "")]


@contextmanager
def _counting_pings(database_url: str) -> Iterator[tuple[Engine, list[bool]]]:
    """An engine on the database whose pool's pings are recorded (True: the connection answered)."""
    engine = make_engine(database_url)
    real, pings = engine.dialect.do_ping, []

    def ping(dbapi_connection: object) -> bool:
        try:
            answered = real(dbapi_connection)
        except Exception:
            pings.append(False)
            raise
        pings.append(answered)
        return answered

    engine.dialect.do_ping = ping  # type: ignore[method-assign]
    try:
        yield engine, pings
    finally:
        engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_the_server_closed_is_replaced_without_a_ping_for_the_live_ones(
    migrated_url: str,
) -> None:
    """A pooled connection back in the pool for a moment is handed out without a ping; one whose backend was
    terminated (as a restart terminates them all) is found by its socket, pinged, and replaced: the request runs
    on a new connection."""
    with _counting_pings(migrated_url) as (engine, pings):
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first and pings == []  # the same connection, no round trip to check it
        terminate_backends(engine.url.database or "", [first])
        assert _backend_pid(engine) != first
        assert pings == [False]


def test_a_message_on_a_live_connection_costs_a_ping_not_the_connection(migrated_url: str) -> None:
    """Something the server sent unasked (here a notification) makes the socket readable too: the ping tells the
    connection is alive, and it is kept."""
    same_database = make_url(migrated_url).set(drivername="postgresql").render_as_string(False)
    with (
        _counting_pings(migrated_url) as (engine, pings),
        psycopg.connect(same_database, autocommit=True) as admin,  # a notification stays in its database
    ):
        with engine.connect() as conn:
            conn.exec_driver_sql("LISTEN pool_check")
            conn.commit()
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            assert not has_input(conn.connection.dbapi_connection)
        admin.execute("NOTIFY pool_check")
        time.sleep(0.2)
        assert _backend_pid(engine) == first
        assert pings == [True]


def test_a_connection_idle_for_long_is_pinged(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer gone without closing leaves nothing to read: a connection idle past the limit is pinged."""
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    with _counting_pings(migrated_url) as (engine, pings):
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first
        assert pings == [True]  # the connection just opened is not

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

from backend.db import (
    ReadSessionWrite,
    SchemaOutOfDate,
    load_json,
    make_engine,
    make_read_session_factory,
    make_session_factory,
    server_closed,
    verify_schema,
)
from backend.models import Experiment
from backend.store import experiments
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


def _no_ping(_dbapi_connection: object) -> bool:
    raise AssertionError("the pool pinged the database: a round trip on every checkout")


def test_a_connection_the_server_closed_is_replaced_without_a_round_trip(database_url: str) -> None:
    """A pooled connection whose backend was terminated (as a restart terminates them all) is found closed when
    the pool hands it out, by its socket, and replaced: the request runs on a new connection. A live pooled
    connection is handed out without a ping."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connection to lose")
    engine = make_engine(database_url)
    engine.dialect.do_ping = _no_ping  # type: ignore[method-assign]
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            assert not server_closed(conn.connection.dbapi_connection)  # after a query, idle and open
        with engine.connect() as conn:  # the same pooled connection, handed out again without a ping
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == first
        url = make_url(database_url).set(drivername="postgresql").render_as_string(False)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            deadline = time.monotonic() + 10
            while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (first,)).fetchone():
                assert time.monotonic() < deadline, "the terminated backend did not exit"
                time.sleep(0.01)
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
    finally:
        engine.dispose()

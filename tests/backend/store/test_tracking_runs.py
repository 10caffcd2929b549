"""Tracking runs: the pooled connection's insert (both databases) and, on PostgreSQL, the event loop's own
(`PostgresLoopWriter.create_tracking_run`) store the same row and params; a failure that stored nothing is handed to
the full stack, one that may have stored the run is not."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import Column, Engine, Integer, insert, text

from backend.db import make_session_factory
from backend.errors import NotFound
from backend.models import Run, utcnow
from backend.store import experiments
from backend.store.loop_writer import OutcomeUnknown, PostgresLoopWriter, WriteUnavailable
from backend.store.run_rows import RUN_COLUMN_NAMES
from backend.store.tracking_runs import _TRACKING, _constant, insert_tracking_run
from backend.unit_of_work import core_unit_of_work
from tests.backend.store.writers import with_open_writer

T = TypeVar("T")
PARAMS: dict[str, Any] = {"arch": "resnet50", "lr": 0.1, "epochs": 90, "mixup": True}
# What differs between two runs created alike.
OWN = {"id", "created_at", "started_at"}


def _experiment(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        experiment = experiments.create_experiment(session, f"e{time.monotonic_ns()}", "")
        session.commit()
        return experiment.id


def _insert(engine: Engine, experiment_id: int) -> tuple[Any, dict[str, Any]]:
    with core_unit_of_work(engine, autocommit=engine.dialect.name == "postgresql") as connection:
        return insert_tracking_run(connection, experiment_id, name="sweep-1", params=PARAMS)


def _stored(engine: Engine, run_id: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The run's row as SQLAlchemy reads it, and its params' stored text."""
    with core_unit_of_work(engine) as connection:
        run = connection.execute(Run.__table__.select().where(Run.__table__.c.id == run_id)).one()
        params = connection.execute(
            text("SELECT key, value FROM run_param WHERE run_id = :r"), {"r": run_id}
        ).all()
    return dict(run._mapping), dict(params)  # type: ignore[arg-type]


def _with_writer(engine: Engine, use: Callable[[PostgresLoopWriter], Awaitable[T]]) -> T:
    return with_open_writer(lambda: PostgresLoopWriter(engine), use)


def _run_count(engine: Engine) -> int:
    with core_unit_of_work(engine) as connection:
        return connection.execute(text("SELECT count(*) FROM run")).scalar_one()


def test_the_returned_row_is_the_stored_run(engine: Engine) -> None:
    experiment = _experiment(engine)
    row, params = _insert(engine, experiment)
    stored, texts = _stored(engine, row.id)
    assert dict(zip(RUN_COLUMN_NAMES, row, strict=True)) == stored
    assert stored["kind"] == "tracking" and stored["status"] == "running" and stored["spec"] == {}
    assert stored["environment"] is None and stored["created_at"] == stored["started_at"]
    # The row carries the params too, keys in code-point order, as the answer gives them.
    assert list(stored["params_json"]) == list(params) == sorted(PARAMS) and stored["params_json"] == PARAMS
    assert params == PARAMS and texts == {"arch": "resnet50", "lr": "0.1", "epochs": "90", "mixup": "true"}


def test_a_missing_experiment_is_not_found_and_stores_nothing(engine: Engine) -> None:
    with pytest.raises(NotFound, match="experiment 999999 not found"):
        _insert(engine, 999_999)
    assert _run_count(engine) == 0


def _reference(engine: Engine, experiment_id: int) -> int:
    """A tracking run inserted as SQLAlchemy inserts one, leaving each column it is not given to its default."""
    now = utcnow()
    values = {
        **_TRACKING,
        "experiment_id": experiment_id,
        "name": "sweep-1",
        "created_at": now,
        "started_at": now,
        "params_json": dict(sorted(PARAMS.items())),
    }
    with core_unit_of_work(engine) as connection:
        return connection.execute(insert(Run.__table__).returning(Run.__table__.c.id), values).scalar_one()


def test_both_postgresql_inserts_store_what_sqlalchemys_insert_stores(pg_engine: Engine) -> None:
    experiment = _experiment(pg_engine)
    pooled, pooled_params = _insert(pg_engine, experiment)
    row, params = _with_writer(
        pg_engine, lambda writer: writer.create_tracking_run(experiment, "sweep-1", PARAMS)
    )
    assert params == pooled_params == PARAMS
    assert len({row.id, pooled.id}) == 2
    looped, texts = _stored(pg_engine, row.id)
    assert dict(zip(RUN_COLUMN_NAMES, row, strict=True)) == looped
    assert texts == _stored(pg_engine, pooled.id)[1]

    def own_excluded(run_id: int) -> dict[str, Any]:
        return {k: v for k, v in _stored(pg_engine, run_id)[0].items() if k not in OWN}

    expected = own_excluded(_reference(pg_engine, experiment))
    assert own_excluded(row.id) == own_excluded(pooled.id) == expected
    with core_unit_of_work(pg_engine) as connection:  # the same JSON, not only the same Python value
        spellings = connection.execute(
            text("SELECT DISTINCT spec::text, hparams::text, environment IS NULL, params_json::text FROM run")
        ).all()
    assert spellings == [("{}", "{}", True, '{"arch": "resnet50", "epochs": 90, "lr": 0.1, "mixup": true}')]


def test_a_column_left_to_a_server_default_must_be_given_a_value() -> None:
    column = Column("added_later", Integer, server_default="7")
    with pytest.raises(TypeError, match="added_later"):
        _constant(column)


def test_a_missing_experiment_on_the_loop_is_left_to_the_full_stack(pg_engine: Engine) -> None:
    async def create(writer: PostgresLoopWriter) -> int:
        with pytest.raises(WriteUnavailable):
            await writer.create_tracking_run(999_999, None, PARAMS)
        # The connection is fine for the next one.
        row, _ = await writer.create_tracking_run(_experiment(pg_engine), None, {})
        return row.id

    assert _with_writer(pg_engine, create) > 0
    assert _run_count(pg_engine) == 1


def test_a_missing_experiment_draws_no_run_id(pg_engine: Engine) -> None:
    """Refused on the event loop, then by the full stack (as the front door does), a run for a missing experiment
    leaves the run ids unbroken: the next run takes the id after the last."""
    experiment = _experiment(pg_engine)
    first, _ = _insert(pg_engine, experiment)

    async def refused(writer: PostgresLoopWriter) -> None:
        with pytest.raises(WriteUnavailable):
            await writer.create_tracking_run(999_999, None, PARAMS)

    _with_writer(pg_engine, refused)
    with pytest.raises(NotFound):
        _insert(pg_engine, 999_999)
    second, _ = _insert(pg_engine, experiment)
    assert second.id == first.id + 1


def _admin(engine: Engine) -> psycopg.Connection[Any]:
    return psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(False), autocommit=True)


def test_a_connection_the_server_closed_stored_nothing_and_is_left_to_the_full_stack(
    pg_engine: Engine,
) -> None:
    """A restart: the server ends the session with a message before it reads the statement."""
    experiment = _experiment(pg_engine)

    async def create(writer: PostgresLoopWriter) -> list[str]:
        await writer._pool.wait()
        await writer.create_tracking_run(experiment, None, {})  # the pool's connection, now used once
        with _admin(pg_engine) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                (pg_engine.url.database,),
            )
        outcomes = []
        for _ in range(2):
            try:
                await writer.create_tracking_run(experiment, None, {})
                outcomes.append("created")
            except WriteUnavailable:
                outcomes.append("left")
        return outcomes

    assert _with_writer(pg_engine, create) == ["left", "created"]
    assert _run_count(pg_engine) == 2


def test_a_connection_broken_without_a_word_may_have_stored_the_run_and_says_so(pg_engine: Engine) -> None:
    experiment = _experiment(pg_engine)

    async def create(writer: PostgresLoopWriter) -> None:
        await writer._pool.wait()  # its one connection open, so taking it does not start another
        assert writer._pool.get_stats()["pool_size"] == 1
        async with writer._pool.connection() as connection:  # the pool's one idle connection
            cut = socket.socket(fileno=os.dup(connection.pgconn.socket))
            cut.shutdown(socket.SHUT_RDWR)
            cut.close()
        with pytest.raises(OutcomeUnknown):
            await writer.create_tracking_run(experiment, None, {})

    _with_writer(pg_engine, create)

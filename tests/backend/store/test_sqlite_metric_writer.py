"""SQLite's event-loop writer never waits: a locked database is reported at once (the full stack waits instead),
and its checkpoints keep the write-ahead log from growing while writes go on."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from backend.db import make_engine, make_session_factory
from backend.store import metrics
from backend.store.metric_writer import WriteUnavailable
from backend.store.sqlite_metric_writer import CHECKPOINT_EVERY, SqliteMetricWriter, _checkpoint
from tests.backend.store.factories import make_run
from tests.support import copy_sqlite_database


@pytest.fixture()
def database(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    path = tmp_path / "xclab.db"
    copy_sqlite_database(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine, path
    engine.dispose()


def _point(step: int) -> list[metrics.MetricPoint]:
    return [metrics.MetricPoint("loss", step, 1.0 / (step + 1))]


def _wal_frames(path: Path) -> int:
    """Frames in the write-ahead log (a passive checkpoint reports them and changes nothing else)."""
    with sqlite3.connect(path, isolation_level=None) as connection:
        return connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]


def test_a_locked_database_is_reported_at_once_and_nothing_is_written(database: tuple[Engine, Path]) -> None:
    engine, path = database
    with make_session_factory(engine)() as session:
        run_id = make_run(session)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock

    async def write() -> tuple[float, int]:
        writer = SqliteMetricWriter(engine)
        await writer.open()
        try:
            started = time.perf_counter()
            with pytest.raises(WriteUnavailable, match="locked"):
                await writer.write_points(run_id, _point(1), metrics.ANY_HOLDER, lambda: None)
            waited = time.perf_counter() - started
            holder.execute("ROLLBACK")
            return waited, await writer.write_points(run_id, _point(2), metrics.ANY_HOLDER, lambda: None)
        finally:
            await writer.close()

    waited, written = asyncio.run(write())
    holder.close()
    assert waited < 0.5  # not the 30 s the thread pool's connections wait
    assert written == 1
    with make_session_factory(engine)() as session:
        assert metrics.metric_history(session, run_id, "loss", None) == [(2, 1 / 3)]


def test_the_log_starts_again_after_a_checkpoint_while_writes_go_on(database: tuple[Engine, Path]) -> None:
    engine, path = database
    with make_session_factory(engine)() as session:
        run_id = make_run(session)

    async def write() -> tuple[int, int]:
        writer = SqliteMetricWriter(engine)
        await writer.open()
        try:
            for step in range(CHECKPOINT_EVERY - 1):
                await writer.write_points(run_id, _point(step), metrics.ANY_HOLDER, lambda: None)
            grown = _wal_frames(path)  # no checkpoint yet: the loop's connection runs none itself
            await asyncio.to_thread(_checkpoint, str(path))
            await writer.write_points(run_id, _point(CHECKPOINT_EVERY), metrics.ANY_HOLDER, lambda: None)
            return grown, _wal_frames(path)
        finally:
            await writer.close()

    grown, after = asyncio.run(write())
    assert grown >= CHECKPOINT_EVERY  # at least a frame per commit
    assert after < 20  # the next write started the log from its beginning


def test_every_so_many_commits_a_checkpoint_runs_in_the_background(database: tuple[Engine, Path]) -> None:
    engine, path = database
    with make_session_factory(engine)() as session:
        run_id = make_run(session)

    async def write() -> int:
        writer = SqliteMetricWriter(engine)
        await writer.open()
        try:
            for step in range(3 * CHECKPOINT_EVERY):
                try:
                    await writer.write_points(run_id, _point(step), metrics.ANY_HOLDER, lambda: None)
                except WriteUnavailable:
                    await asyncio.sleep(0.01)  # the checkpoint holds writes back: the full stack would wait
                await asyncio.sleep(0)
            while writer._checkpoints:  # noqa: SLF001 - let the last one finish
                await asyncio.sleep(0.01)
            await writer.write_points(run_id, _point(3 * CHECKPOINT_EVERY), metrics.ANY_HOLDER, lambda: None)
            return _wal_frames(path)
        finally:
            await writer.close()

    # The write after the last checkpoint started the log again; without checkpoints it would hold a frame or
    # more per commit (the test above).
    assert asyncio.run(write()) < 20

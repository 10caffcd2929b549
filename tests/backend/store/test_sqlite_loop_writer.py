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
from backend.store import metrics, sqlite_loop_writer
from backend.store.loop_writer import WriteUnavailable
from backend.store.sqlite_loop_writer import SqliteLoopWriter, _checkpoint
from tests.backend.store.factories import make_run
from tests.backend.store.writers import with_open_writer
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


def _wal_bytes(path: Path) -> int:
    """The write-ahead log file's size: it grows while commits append to it and stays put once a checkpoint has
    let the next commit start it again from its beginning (reading it changes nothing, unlike a checkpoint)."""
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _write_until_written(writer: SqliteLoopWriter, run_id: int, step: int) -> None:
    """One point; again while a checkpoint holds writes back (the full stack would wait instead)."""
    while True:
        try:
            await writer.write_points(run_id, _point(step), metrics.ANY_HOLDER, lambda: None)
            return
        except WriteUnavailable:
            await asyncio.sleep(0.005)


def test_a_locked_database_is_reported_at_once_and_nothing_is_written(database: tuple[Engine, Path]) -> None:
    engine, path = database
    with make_session_factory(engine)() as session:
        run_id = make_run(session)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock

    async def write(writer: SqliteLoopWriter) -> tuple[float, int]:
        started = time.perf_counter()
        with pytest.raises(WriteUnavailable, match="locked"):
            await writer.write_points(run_id, _point(1), metrics.ANY_HOLDER, lambda: None)
        waited = time.perf_counter() - started
        holder.execute("ROLLBACK")
        return waited, await writer.write_points(run_id, _point(2), metrics.ANY_HOLDER, lambda: None)

    waited, written = with_open_writer(lambda: SqliteLoopWriter(engine), write)
    holder.close()
    assert waited < 0.5  # not the 30 s the thread pool's connections wait
    assert written == 1
    with make_session_factory(engine)() as session:
        assert metrics.metric_history(session, run_id, "loss", None) == [(2, 1 / 3)]


def test_the_log_starts_again_after_a_checkpoint(
    database: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = database
    monkeypatch.setattr(sqlite_loop_writer, "CHECKPOINT_EVERY", 10**9)  # only the checkpoint called here
    with make_session_factory(engine)() as session:
        run_id = make_run(session)

    async def write(writer: SqliteLoopWriter) -> list[int]:
        sizes = []
        for block in range(3):
            for step in range(150):
                await writer.write_points(
                    run_id, _point(block * 1000 + step), metrics.ANY_HOLDER, lambda: None
                )
            sizes.append(_wal_bytes(path))
            if block == 1:
                await asyncio.to_thread(_checkpoint, str(path), False)
        return sizes

    first, second, third = with_open_writer(lambda: SqliteLoopWriter(engine), write)
    assert second > first * 1.5  # the loop's connection runs no checkpoint itself: the log grew
    assert third == second  # after the checkpoint the commits wrote the log from its beginning again


def test_every_so_many_commits_a_checkpoint_runs_in_the_background(
    database: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = database
    monkeypatch.setattr(sqlite_loop_writer, "CHECKPOINT_EVERY", 50)
    with make_session_factory(engine)() as session:
        run_id = make_run(session)

    async def write(writer: SqliteLoopWriter) -> tuple[int, int]:
        for step in range(49):
            await _write_until_written(writer, run_id, step)
        before = _wal_bytes(path)  # 49 commits, no checkpoint yet
        for step in range(49, 500):
            await _write_until_written(writer, run_id, step)
            await asyncio.sleep(0)  # let a started checkpoint run
        return before, _wal_bytes(path)

    before, after = with_open_writer(lambda: SqliteLoopWriter(engine), write)
    # 500 commits without checkpoints would leave a log ten times as long as 49 commits'.
    assert after < 3 * before

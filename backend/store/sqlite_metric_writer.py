"""SQLite: small metric batches written on the event loop's thread, for the front door (`backend.fast_metrics`).

SQLite is a library, not a server: a one-point write to a file in WAL mode takes about 0.05 ms through the
`sqlite3` module, while the thread-pool trip and SQLAlchemy's connection handling around the same write took
0.22 ms more (measured side by side). This writer keeps one connection of its own, used only from the event
loop, for batches of up to `MAX_POINTS` points; larger ones, whose inserts would hold the loop, go to the thread
pool as before.

The loop must never wait, so the connection does not wait for a lock (`busy_timeout` 0): a write that finds the
database locked raises `WriteUnavailable`, and the full stack writes it on a thread, waiting as it always has. Nor
does it run checkpoints, which flush the write-ahead log with an fsync: every `CHECKPOINT_EVERY` commits one runs
in a thread, on a connection of its own (`_checkpoint`; SQLAlchemy's connections still checkpoint after their own
commits).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from backend.store.metric_writer import WriteUnavailable
from backend.store.metrics import (
    UPSERT_LATEST,
    UPSERT_POINTS,
    HolderRule,
    PointLike,
    admit,
    rows_of,
)

MAX_POINTS = 100
CHECKPOINT_EVERY = 200
_STATE = "SELECT status, claim_token_id FROM run WHERE id = ?"


class SqliteMetricWriter:
    """One `sqlite3` connection, in autocommit with explicit transactions, written from the event loop only."""

    def __init__(self, engine: Engine) -> None:
        self._path = str(engine.url.database)
        self._connection: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commits = 0
        self._checkpoints: set[asyncio.Task[None]] = set()

    @staticmethod
    def serves(engine: Engine) -> bool:
        """A SQLite database in a file (an in-memory one is private to its connection)."""
        database = engine.url.database
        return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"

    async def open(self) -> None:
        self._connection = _connect(self._path, busy_ms=0)
        self._connection.execute("PRAGMA wal_autocheckpoint = 0")
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        for task in self._checkpoints:
            task.cancel()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def on_this_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop and self._connection is not None
        except RuntimeError:
            return False

    def takes(self, points: Sequence[PointLike]) -> bool:
        return len(points) <= MAX_POINTS

    async def write_points(
        self, run_id: int, points: Sequence[PointLike], rule: HolderRule, refuse: Callable[[], None]
    ) -> int:
        """`backend.store.metrics.write_points` on SQLite: the points written, or its refusal raised."""
        if self._connection is None:
            raise WriteUnavailable("the writer is closed")
        rows, latest = rows_of(run_id, points)
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")  # the write lock now, or SQLITE_BUSY at once
        except sqlite3.Error as exc:
            raise WriteUnavailable(str(exc)) from exc
        try:
            admit(run_id, connection.execute(_STATE, (run_id,)).fetchone(), rule, refuse)
            connection.executemany(UPSERT_POINTS.format(p="?"), rows)
            connection.executemany(UPSERT_LATEST.format(p="?"), latest)
            connection.execute("COMMIT")
        except BaseException as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise WriteUnavailable(str(exc)) from exc
            raise
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and not self._checkpoints:
            task = asyncio.create_task(asyncio.to_thread(_checkpoint, self._path))
            self._checkpoints.add(task)
            task.add_done_callback(self._checkpoints.discard)
        return len(rows)


def _connect(path: str, busy_ms: int) -> sqlite3.Connection:
    # isolation_level None: no implicit transactions; the writer begins and commits its own.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")  # as `backend.db.make_engine`'s (kept in the file)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    return connection


def _checkpoint(path: str) -> None:
    """Copy the whole write-ahead log into the database, so that the next write starts it again from its beginning
    (RESTART). A passive checkpoint, racing the loop's writes, never catches up with them and the log grows without
    end; this one holds new writes back while it runs (a few milliseconds; the loop's writes meanwhile find the
    database busy and go to the thread pool, which waits)."""
    connection = _connect(path, busy_ms=5000)
    try:
        connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    except sqlite3.Error:
        pass  # the next one, or any SQLAlchemy connection's commit, checkpoints instead
    finally:
        connection.close()

"""SQLite: small metric batches written on the event loop's thread, for the front door (`backend.fast_metrics`).

SQLite is a library, not a server: a one-point write to a file in WAL mode takes about 0.05 ms through the
`sqlite3` module, while the thread-pool trip and SQLAlchemy's connection handling around the same write took
0.22 ms more (measured side by side). This writer keeps one connection of its own, used only from the event
loop, for batches of up to `MAX_POINTS` points; larger ones, whose inserts would hold the loop, go to the thread
pool as before.

The loop must not wait, so the connection does not wait for a lock (`busy_timeout` 0): a write that finds the
database locked raises `WriteUnavailable`, and the full stack writes it on a thread, waiting as it always has. Nor
does it run checkpoints, which copy the write-ahead log into the database with fsyncs: every `CHECKPOINT_EVERY`
commits one runs in a thread, on a connection of its own (`_checkpoint`; SQLAlchemy's connections still checkpoint
after their own commits). What stays on the loop: the commit that starts the log again after a checkpoint syncs
the log's header (one fsync per `CHECKPOINT_EVERY` commits), and SQLite's own short retries while a checkpoint
or another process moves the log.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from backend.db import sqlite_pragmas
from backend.store.loop_writer import WriteUnavailable
from backend.store.metrics import (
    HolderRule,
    PointLike,
    admit,
    rows_of,
    upsert_rows,
)

MAX_POINTS = 100
CHECKPOINT_EVERY = 200
# A RESTART checkpoint holds new writers back while it waits for readers of an older snapshot: at most this long.
CHECKPOINT_WAIT_MS = 100
OPEN_WAIT_MS = 5000
_STATE = "SELECT status, claim_token_id FROM run WHERE id = ?"

log = logging.getLogger(__name__)


class SqliteLoopWriter:
    """One `sqlite3` connection, in autocommit with explicit transactions, written from the event loop only."""

    def __init__(self, engine: Engine) -> None:
        # The file (or `file:` URI) and options exactly as SQLAlchemy opens it.
        args, options = engine.dialect.create_connect_args(engine.url)
        self._target = (args[0], bool(options.get("uri", False)))
        self._connection: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commits = 0
        self._checkpoints: set[asyncio.Task[bool]] = set()

    @staticmethod
    def serves(engine: Engine) -> bool:
        """A SQLite database in a file (an in-memory one is private to its connection)."""
        database = engine.url.database
        return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            # In a thread: opening may wait on another process's lock (the journal mode's check).
            self._connection = await asyncio.to_thread(_connect, *self._target)
        except sqlite3.Error as exc:
            log.warning("metric writes go through the thread pool: %s", exc)

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
        """`backend.store.metrics.write_points` on SQLite: the points written, or its refusal raised. Nothing here
        awaits, so no other request's write can come between this one's BEGIN and COMMIT on the shared
        connection (keep it so)."""
        connection = self._connection
        if connection is None:
            raise WriteUnavailable("the writer is closed")
        if self._checkpoints:
            # Stand aside while a checkpoint waits for the lock: back-to-back writes from the loop would take it
            # before the checkpoint's retries do, and the log would keep growing.
            raise WriteUnavailable("a checkpoint is running")
        rows, latest = rows_of(run_id, points)
        try:
            connection.execute("BEGIN IMMEDIATE")  # the write lock now, or SQLITE_BUSY at once
            admit(run_id, connection.execute(_STATE, (run_id,)).fetchone(), rule, refuse)
            upsert_rows(connection, "?", rows, latest)
            connection.execute("COMMIT")
        except BaseException as exc:
            self._end_transaction()
            if isinstance(exc, sqlite3.Error):
                raise WriteUnavailable(str(exc)) from exc
            raise
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and not self._checkpoints:
            task = asyncio.create_task(asyncio.to_thread(_checkpoint, *self._target))
            self._checkpoints.add(task)
            task.add_done_callback(self._checkpoints.discard)
        return len(rows)

    def _end_transaction(self) -> None:
        """Roll back what a failed write began. A connection that cannot (an I/O error) is closed, so that it can
        never hold the write lock for good; the writes that follow take the thread pool's path."""
        connection = self._connection
        if connection is None or not connection.in_transaction:
            return
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning(
                "loop writer closed after a failed rollback (%s); writes go through the thread pool", exc
            )
            connection.close()
            self._connection = None


def _connect(target: str, uri: bool) -> sqlite3.Connection:
    """The writer's connection: once open it waits for no lock and runs no checkpoint. Opening it may wait up to
    `OPEN_WAIT_MS` (setting the journal mode waits for another process's lock)."""
    # isolation_level None: no implicit transactions; the writer begins and commits its own.
    connection = sqlite3.connect(
        target, uri=uri, timeout=OPEN_WAIT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    sqlite_pragmas(connection, busy_ms=OPEN_WAIT_MS)
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    connection.execute("PRAGMA busy_timeout = 0")
    return connection


def _checkpoint(target: str, uri: bool) -> bool:
    """Copy the whole write-ahead log into the database, so that the next write starts it again from its beginning
    (RESTART); whether it did. A passive checkpoint, racing the loop's writes, never catches up with them and the
    log grows without end; this one holds new writes back while it runs (the loop's writes meanwhile go to the
    thread pool, which waits), and gives up after `CHECKPOINT_WAIT_MS` rather than
    hold them longer. Its connection only checkpoints (setting the journal mode, as the writer's does, would wait
    for the writer's lock)."""
    connection = sqlite3.connect(target, uri=uri, timeout=CHECKPOINT_WAIT_MS / 1000, isolation_level=None)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        return not busy
    except sqlite3.Error:
        return False  # the next one, or any SQLAlchemy connection's commit, checkpoints instead
    finally:
        connection.close()

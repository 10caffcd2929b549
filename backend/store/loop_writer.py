"""PostgreSQL: metric writes and tracking runs' creation on connections of the event loop's own, for the front
door (`backend.fast_metrics`, `backend.fast_runs`).

The synchronous driver blocks, so the routes send each write to the thread pool; for a small batch that trip
(a thread switch each way, on a busy interpreter) costs about as much as the database's round trip and commit. An
asynchronous connection waits on the event loop instead. The statement, its parameters and the refusals are
`backend.store.metrics`' own, so both paths write and refuse alike.

A write the driver fails (the database restarted, no connection in time, a value the database refuses) raises
`WriteUnavailable`: the caller hands the request to the full stack, whose pool finds closed connections and
reconnects, and answers a refused value as it always has. The write is an upsert in one autocommitted statement,
so running it again stores each point once.

Writes come one at a time from a training script, so one connection is kept out of the pool (`_held`) for them:
taking a connection from the pool and giving it back (its locks, checks and bookkeeping) cost about 0.15 ms a
write here, a fifth of a one-point write. A write that finds the held connection in use takes one from the pool as
before; a statement that fails gives the held connection back, and the pool resets it, or drops it if it is broken,
as it would any connection returned to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Engine

from backend.models import utcnow
from backend.store.metrics import PG_WRITE, HolderRule, PointLike, admit, pg_write_params, rows_of
from backend.store.run_params import ParamValue
from backend.store.run_rows import RunRow
from backend.store.tracking_runs import PG_CREATE, encode_params, pg_create_params

# As the engine's pool (`backend.db.make_engine`); one connection kept open while idle.
MAX_CONNECTIONS = 10
# Waiting longer than this for a connection (all busy, or none can be made) leaves the write to the full stack,
# whose own pool then waits or fails as it always did.
CONNECTION_WAIT_SECONDS = 1.0
# The first write to end after the held connection has been out this long gives it back, so that the pool's rules (a
# connection's lifetime) still reach it; the next write takes one again. A writer gone quiet keeps it: if the
# database restarts meanwhile, the next write fails once, as on any idle connection, and the full stack takes it.
HELD_SECONDS = 60.0


class WriteUnavailable(Exception):
    """The write failed or stored nothing: the full stack should run it (again; an upsert stores a point once)."""


class OutcomeUnknown(Exception):
    """The connection broke while a run was being created: it may or may not have been stored, so the request
    must not be run again."""


class LoopWriter(Protocol):
    """What the front door needs of a writer: this module's for PostgreSQL, `sqlite_loop_writer`'s for SQLite."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def on_this_loop(self) -> bool: ...
    def takes(self, points: Sequence[PointLike]) -> bool: ...
    async def write_points(
        self, run_id: int, points: Sequence[PointLike], rule: HolderRule, refuse: Callable[[], None]
    ) -> int: ...


class PostgresLoopWriter:
    """A small pool of autocommit psycopg connections that writes metric batches and creates tracking runs without
    leaving the event loop."""

    def __init__(self, engine: Engine) -> None:
        _, params = engine.dialect.create_connect_args(engine.url)
        params.pop("context", None)  # SQLAlchemy's adapters; this connection uses psycopg's defaults
        self._pool = AsyncConnectionPool(
            kwargs={**params, "autocommit": True},
            min_size=1,
            max_size=MAX_CONNECTIONS,
            timeout=CONNECTION_WAIT_SECONDS,
            open=False,
            name="loop-writes",
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checks: set[asyncio.Task[None]] = set()
        self._held: psycopg.AsyncConnection | None = None
        self._held_since = 0.0
        self._held_busy = False
        self._closing = False

    @staticmethod
    def serves(engine: Engine) -> bool:
        """Whether the engine's database is PostgreSQL through psycopg (3), which this writer speaks."""
        return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"

    async def open(self) -> None:
        # Not waiting: a server whose database is down still starts, and its writes take the full stack's path.
        await self._pool.open(wait=False)
        self._loop = asyncio.get_running_loop()

    def takes(self, points: Sequence[PointLike]) -> bool:
        """Any batch: the database, not this process, does the work while the loop goes on."""
        return True

    def on_this_loop(self) -> bool:
        """Whether the caller runs on the event loop that opened the pool (the pool's locks and tasks are that
        loop's; a request driven from another loop, as a test may do, takes the thread pool's path)."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def close(self) -> None:
        for task in self._checks:
            task.cancel()
        self._closing = True
        if not self._held_busy:  # else the write using it gives it back when it ends
            await self._give_back()
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """The held connection if no other write is using it (taken from the pool when there is none), else one
        of the pool's. An error gives the held connection back: a failed statement may have left it broken."""
        if self._held_busy:
            async with self._pool.connection() as connection:
                yield connection
            return
        self._held_busy = True
        try:
            if self._held is None:
                self._held = await self._pool.getconn()
                self._held_since = time.monotonic()
            yield self._held
        except BaseException:
            await self._give_back()
            raise
        else:
            if self._closing or time.monotonic() - self._held_since > HELD_SECONDS:
                await self._give_back()
        finally:
            self._held_busy = False

    async def _give_back(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            await self._pool.putconn(held)

    async def write_points(
        self, run_id: int, points: Sequence[PointLike], rule: HolderRule, refuse: Callable[[], None]
    ) -> int:
        """`backend.store.metrics.write_points` on PostgreSQL: the points written, or its refusal raised."""
        rows, latest = rows_of(run_id, points)
        params = pg_write_params(run_id, rows, latest, rule)
        try:
            async with self._connection() as connection:
                cursor = await connection.execute(PG_WRITE, params)
                found = await cursor.fetchone()
        except psycopg.Error as exc:  # the pool's timeout too
            if isinstance(exc, psycopg.OperationalError):
                await self._check_idle_connections()
            raise WriteUnavailable(str(exc)) from exc
        admit(run_id, found, rule, refuse)
        return len(rows)

    async def create_tracking_run(
        self, experiment_id: int, name: str | None, params: Mapping[str, ParamValue]
    ) -> tuple[RunRow, dict[str, ParamValue]]:
        """`backend.store.tracking_runs.insert_tracking_run` on PostgreSQL: the run's row and its params as stored.

        Unlike a metric batch, a run inserted twice is two runs. So only a failure that certainly stored nothing
        raises `WriteUnavailable` (for the full stack to run it): no connection in time, a missing experiment (the
        statement then inserts nothing), or an error the server reported, whose statement was rolled back (a
        connection the server closed before reading the statement, as a restart does). A connection that broke
        without a word from the server raises `OutcomeUnknown`, answered as the full stack answers a database
        failure. (A session ended by the server between the commit and the answer would be reported too, and the
        run created again: the same window of microseconds in which the full stack's own commit can succeed
        unanswered.)"""
        encoded = encode_params(params)
        values = pg_create_params(experiment_id, name, utcnow(), encoded)
        try:
            async with self._connection() as connection:
                cursor = await connection.execute(PG_CREATE, values)
                row = await cursor.fetchone()
        except PoolTimeout as exc:
            raise WriteUnavailable(str(exc)) from exc
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError):
                await self._check_idle_connections()
            if exc.sqlstate is None:
                raise OutcomeUnknown(str(exc)) from exc
            raise WriteUnavailable(str(exc)) from exc
        if row is None:  # no such experiment: nothing was inserted, and the full stack answers the 404
            raise WriteUnavailable(f"experiment {experiment_id} not found")
        return RunRow._make(row), encoded.stored

    async def _check_idle_connections(self) -> None:
        """A restarted database leaves every idle connection dead, not only the one that failed (which the pool
        drops when it is back). The pool's check takes them all out of the pool at once and tests each: it runs
        in the background (testing a connection can take as long as the network lets it), and this yields once so that it has
        taken them before the next write asks for a connection. (The held connection is not in the pool: a write
        that fails on it gives it back, and the pool drops it.)"""
        if not self._checks:
            task = asyncio.create_task(self._pool.check())
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)
        await asyncio.sleep(0)

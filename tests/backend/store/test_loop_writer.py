"""The event loop's own metric writes (PostgreSQL's pool, SQLite's connection): the same rows and refusals as the
thread-pool path, and on PostgreSQL a lost connection reported (for the full stack to take over), not raised as a
server error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.app import _loop_writer
from backend.db import make_engine, make_session_factory
from backend.errors import Conflict, NotFound
from backend.store import metrics
from backend.store.loop_writer import LoopWriter, PostgresLoopWriter, WriteUnavailable
from backend.store.sqlite_loop_writer import SqliteLoopWriter
from tests.backend.store.factories import claim_and_finish, make_run
from tests.backend.store.writers import with_open_writer

T = TypeVar("T")


class Refused(Exception):
    pass


def _refuse() -> None:
    raise Refused


def _with_writer(engine: Engine, use: Callable[[LoopWriter], Awaitable[T]]) -> T:
    return with_open_writer(lambda: _loop_writer(engine), use)


def test_each_database_gets_its_writer(pg_engine: Engine, tmp_path: Path) -> None:
    assert isinstance(_loop_writer(pg_engine), PostgresLoopWriter)
    assert isinstance(_loop_writer(make_engine(f"sqlite:///{tmp_path / 'x.db'}")), SqliteLoopWriter)
    assert _loop_writer(make_engine("sqlite://")) is None  # in memory: private to its connection


def test_points_and_latest_values_are_stored_as_the_thread_pool_path_stores_them(engine: Engine) -> None:
    with make_session_factory(engine)() as session:
        run_id = make_run(session)
    # Step 2 twice in one batch (the last wins), and an older step arriving after a newer one.
    batch = [
        metrics.MetricPoint("loss", 1, 0.5, 10.0),
        metrics.MetricPoint("loss", 2, 0.4, 11.0),
        metrics.MetricPoint("loss", 2, 0.3, 12.0),
        metrics.MetricPoint("acc", 5, 0.9, 13.0),
    ]

    async def write(writer: LoopWriter) -> list[int]:
        first = await writer.write_points(run_id, batch, metrics.ANY_HOLDER, _refuse)
        late = [metrics.MetricPoint("acc", 1, 0.1, 14.0)]
        return [first, await writer.write_points(run_id, late, metrics.ANY_HOLDER, _refuse)]

    assert _with_writer(engine, write) == [3, 1]
    with make_session_factory(engine)() as session:
        assert metrics.metric_history(session, run_id, "loss", None, wall_time=True) == [
            (1, 0.5, 10.0),
            (2, 0.3, 12.0),
        ]
        assert metrics.metric_history(session, run_id, "acc", None) == [(1, 0.1), (5, 0.9)]
        latest = session.execute(
            text("SELECT key, step, value FROM latest_metric WHERE run_id = :r ORDER BY key"),
            {"r": run_id},
        ).all()
    assert [tuple(row) for row in latest] == [("acc", 5, 0.9), ("loss", 2, 0.3)]


def _refusal(engine: Engine, run_id: int, rule: metrics.HolderRule) -> type[Exception] | None:
    async def write(writer: LoopWriter) -> type[Exception] | None:
        try:
            await writer.write_points(run_id, [metrics.MetricPoint("x", 1, 1.0)], rule, _refuse)
        except (Refused, NotFound, Conflict) as exc:
            return type(exc)
        return None

    return _with_writer(engine, write)


def test_refusals_are_the_thread_pool_paths_and_write_nothing(engine: Engine) -> None:
    with make_session_factory(engine)() as session:
        open_run, finished = make_run(session), make_run(session)
        claim_and_finish(session, finished, "succeeded")
    assert _refusal(engine, 10**6, metrics.ANY_HOLDER) is NotFound
    assert _refusal(engine, finished, metrics.ANY_HOLDER) is Conflict
    # A worker token that does not hold the run is refused before the run's state is looked at.
    assert _refusal(engine, open_run, metrics.HolderRule(any_holder=False, holder=42)) is Refused
    assert _refusal(engine, finished, metrics.HolderRule(any_holder=False, holder=42)) is Refused
    with make_session_factory(engine)() as session:
        assert _point_count(session, open_run) == _point_count(session, finished) == 0


def test_a_refusal_leaves_the_writer_ready_for_the_next_write(engine: Engine) -> None:
    with make_session_factory(engine)() as session:
        open_run, finished = make_run(session), make_run(session)
        claim_and_finish(session, finished, "succeeded")

    async def write(writer: LoopWriter) -> int:
        with pytest.raises(Conflict):
            await writer.write_points(
                finished, [metrics.MetricPoint("x", 1, 1.0)], metrics.ANY_HOLDER, _refuse
            )
        with pytest.raises(Refused):
            rule = metrics.HolderRule(any_holder=False, holder=42)
            await writer.write_points(open_run, [metrics.MetricPoint("x", 1, 1.0)], rule, _refuse)
        return await writer.write_points(
            open_run, [metrics.MetricPoint("x", 2, 2.0)], metrics.ANY_HOLDER, _refuse
        )

    assert _with_writer(engine, write) == 1
    with make_session_factory(engine)() as session:
        assert metrics.metric_history(session, open_run, "x", None) == [(2, 2.0)]
        assert _point_count(session, finished) == 0


def _point_count(session: Session, run_id: int) -> int:
    return session.execute(text("SELECT count(*) FROM metric WHERE run_id = :r"), {"r": run_id}).scalar_one()


def test_after_a_restart_one_write_is_reported_lost_and_the_next_ones_reconnect(pg_engine: Engine) -> None:
    engine = pg_engine
    """Every pooled connection dies (a database restart): the write that meets a dead one is reported, the pool's
    other dead connections are dropped with it, and the following writes land."""
    with make_session_factory(engine)() as session:
        run_id = make_run(session)
    admin_url = engine.url.set(drivername="postgresql").render_as_string(False)
    others = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'"

    def connections(action: str) -> int:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            return len(admin.execute(f"SELECT {action} {others}", (engine.url.database,)).fetchall())

    def point(step: int) -> list[metrics.MetricPoint]:
        return [metrics.MetricPoint("x", step, float(step))]

    async def write(writer: LoopWriter) -> tuple[int, list[str]]:
        step = 0
        for _ in range(20):  # concurrent writes make the pool grow past one connection
            if connections("pid") >= 3:
                break
            batch = [point(step := step + 1) for _ in range(8)]
            await asyncio.gather(
                *(writer.write_points(run_id, p, metrics.ANY_HOLDER, _refuse) for p in batch)
            )
        pooled = connections("pg_terminate_backend(pid)")
        outcomes = []
        for _ in range(pooled + 2):
            try:
                await writer.write_points(run_id, point(step := step + 1), metrics.ANY_HOLDER, _refuse)
                outcomes.append("written")
            except WriteUnavailable:
                outcomes.append("lost")
        return pooled, outcomes

    pooled, outcomes = _with_writer(engine, write)
    assert pooled >= 3
    assert outcomes == ["lost"] + ["written"] * (pooled + 1)


def _pool_requests(writer: PostgresLoopWriter) -> int:
    return writer._pool.get_stats().get("requests_num", 0)


def test_writes_one_at_a_time_keep_one_connection_out_of_the_pool(pg_engine: Engine) -> None:
    with make_session_factory(pg_engine)() as session:
        run_id = make_run(session)

    async def write(writer: PostgresLoopWriter) -> tuple[int, int]:
        for step in range(5):
            await writer.write_points(
                run_id, [metrics.MetricPoint("x", step, 1.0)], metrics.ANY_HOLDER, _refuse
            )
        alone = _pool_requests(writer)
        # Two at once: the second finds the held connection in use and takes one from the pool.
        await asyncio.gather(
            *(
                writer.write_points(run_id, [metrics.MetricPoint("x", s, 1.0)], metrics.ANY_HOLDER, _refuse)
                for s in (10, 11)
            )
        )
        return alone, _pool_requests(writer)

    alone, together = with_open_writer(lambda: PostgresLoopWriter(pg_engine), write)
    assert (alone, together) == (1, 2)
    with make_session_factory(pg_engine)() as session:
        assert _point_count(session, run_id) == 7


def test_the_held_connection_goes_back_after_a_failure_and_after_its_time(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_session_factory(pg_engine)() as session:
        run_id = make_run(session)
    point = [metrics.MetricPoint("x", 1, 1.0)]

    async def write(writer: PostgresLoopWriter) -> list[int]:
        seen: list[int] = []
        await writer.write_points(run_id, point, metrics.ANY_HOLDER, _refuse)
        seen.append(_pool_requests(writer))
        # A statement the database refuses (a step past bigint): reported, and the connection given back.
        with pytest.raises(WriteUnavailable):
            too_far = [metrics.MetricPoint("x", 2**70, 1.0)]
            await writer.write_points(run_id, too_far, metrics.ANY_HOLDER, _refuse)
        await writer.write_points(run_id, point, metrics.ANY_HOLDER, _refuse)
        seen.append(_pool_requests(writer))
        monkeypatch.setattr("backend.store.loop_writer.HELD_SECONDS", 0.0)
        for _ in range(3):  # each write now gives it back after: the next two take it again
            await writer.write_points(run_id, point, metrics.ANY_HOLDER, _refuse)
        seen.append(_pool_requests(writer))
        return seen

    assert with_open_writer(lambda: PostgresLoopWriter(pg_engine), write) == [1, 2, 4]


def test_closing_the_writer_closes_the_held_connection(pg_engine: Engine) -> None:
    with make_session_factory(pg_engine)() as session:
        run_id = make_run(session)
    held: list[psycopg.AsyncConnection] = []

    async def write(writer: PostgresLoopWriter) -> None:
        await writer.write_points(run_id, [metrics.MetricPoint("x", 1, 1.0)], metrics.ANY_HOLDER, _refuse)
        assert writer._held is not None
        held.append(writer._held)

    with_open_writer(lambda: PostgresLoopWriter(pg_engine), write)
    assert held[0].closed


def test_a_write_in_flight_at_close_closes_the_held_connection_when_it_ends(pg_engine: Engine) -> None:
    with make_session_factory(pg_engine)() as session:
        run_id = make_run(session)

    async def main() -> tuple[int, bool]:
        writer = PostgresLoopWriter(pg_engine)
        await writer.open()
        await writer.write_points(run_id, [metrics.MetricPoint("x", 1, 1.0)], metrics.ANY_HOLDER, _refuse)
        connection = writer._held
        assert connection is not None
        in_flight = asyncio.create_task(
            writer.write_points(run_id, [metrics.MetricPoint("x", 2, 2.0)], metrics.ANY_HOLDER, _refuse)
        )
        while not writer._held_busy:
            await asyncio.sleep(0)
        await writer.close()
        return await in_flight, connection.closed

    assert asyncio.run(main()) == (1, True)
    with make_session_factory(pg_engine)() as session:
        assert _point_count(session, run_id) == 2

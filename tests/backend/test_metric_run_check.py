"""A metric point's run, enforced by the database: on SQLite by the foreign key, on PostgreSQL by migration 0013's
triggers (once per statement). The same guarantees either way: no point of a missing run, a run's points go with
it, and a run being written cannot be deleted under the write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, insert, text
from sqlalchemy.exc import IntegrityError, OperationalError

from backend.db import TRIGGER_CHECKED_ON_POSTGRESQL, alembic_config, make_engine
from backend.models import Experiment, Run

BEFORE = "0012_sqlite_clustered_keys"
POINT = text(
    "INSERT INTO metric (run_id, key, step, value, wall_time) VALUES (:run, :key, :step, :value, 1.0)"
)


@contextmanager
def _runs(url: str) -> Iterator[Engine]:
    """Runs 1 and 2 in experiment 1, run 3 in experiment 2, each with no points yet."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Experiment.__table__), [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
            conn.execute(
                insert(Run.__table__),
                [
                    {
                        "id": run_id,
                        "experiment_id": experiment_id,
                        "spec": {},
                        "hparams": {},
                        "task": "cifar100",
                    }
                    | {"method": "erm", "model": "resnet18", "status": "running", "queue": "cpu"}
                    for run_id, experiment_id in ((1, 1), (2, 1), (3, 2))
                ],
            )
        yield engine
    finally:
        engine.dispose()


def _write(conn: Connection, *points: tuple[int, str, int, float]) -> None:
    conn.execute(POINT, [{"run": r, "key": k, "step": s, "value": v} for r, k, s, v in points])


def _stored(engine: Engine) -> list[tuple[int, str, int, float]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, key, step, value FROM metric ORDER BY run_id, key, step"))
        return [tuple(row) for row in rows]


def _batch(conn: Connection, run_ids: list[int]) -> None:
    """One statement, as the metric writers send a batch (PostgreSQL's trigger sees all its rows at once)."""
    values = ", ".join(f"({run_id}, 'loss', {step}, 0.5, 1.0)" for step, run_id in enumerate(run_ids))
    conn.execute(text(f"INSERT INTO metric (run_id, key, step, value, wall_time) VALUES {values}"))


@pytest.mark.parametrize("run_ids", [[99], [99, 99, 99], [1, 2, 99], [99, 1]])
def test_points_of_a_missing_run_are_refused_whole(database_url: str, run_ids: list[int]) -> None:
    with _runs(database_url) as engine:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _batch(conn, run_ids)
        assert _stored(engine) == []


def test_points_of_existing_runs_are_stored_and_rewritten(database_url: str) -> None:
    with _runs(database_url) as engine:
        with engine.begin() as conn:
            _batch(conn, [1, 2, 1, 3])
            conn.execute(text("UPDATE metric SET value = 0.25 WHERE run_id = 2"))
        assert _stored(engine) == [
            (1, "loss", 0, 0.5),
            (1, "loss", 2, 0.5),
            (2, "loss", 1, 0.25),
            (3, "loss", 3, 0.5),
        ]


def test_a_point_moves_only_to_a_run_that_exists(database_url: str) -> None:
    with _runs(database_url) as engine:
        with engine.begin() as conn:
            _write(conn, (1, "loss", 0, 0.5))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE metric SET run_id = 99"))
        with engine.begin() as conn:
            conn.execute(text("UPDATE metric SET run_id = 2"))
        assert _stored(engine) == [(2, "loss", 0, 0.5)]


def test_a_runs_points_go_with_it(database_url: str) -> None:
    with _runs(database_url) as engine:
        with engine.begin() as conn:
            _batch(conn, [1, 2, 3, 3])
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM run WHERE id = 3"))
        assert _stored(engine) == [(1, "loss", 0, 0.5), (2, "loss", 1, 0.5)]
        with engine.begin() as conn:  # through the experiment's own cascade to its runs
            _write(conn, (1, "acc", 5, 0.9))
            conn.execute(text("DELETE FROM experiment WHERE id = 1"))
        assert _stored(engine) == []


def _lock_timeout(exc: pytest.ExceptionInfo[OperationalError]) -> bool:
    return getattr(exc.value.orig, "sqlstate", None) == "55P03"


@pytest.mark.parametrize("run_ids", [[1], [1, 2]])
def test_a_run_being_written_is_not_deleted_under_the_write(migrated_url: str, run_ids: list[int]) -> None:
    with _runs(migrated_url) as engine, engine.connect() as writer, engine.connect() as deleter:
        writer.begin()
        _batch(writer, run_ids)
        for run_id in run_ids:
            deleter.execute(text("SET LOCAL lock_timeout = '200ms'"))  # rolled back with each refused delete
            with pytest.raises(OperationalError) as waited:
                deleter.execute(text("DELETE FROM run WHERE id = :id"), {"id": run_id})
            assert _lock_timeout(waited)
            deleter.rollback()
        writer.commit()
        deleter.execute(text("DELETE FROM run WHERE id IN (1, 2)"))
        deleter.commit()
        assert _stored(engine) == []


def test_a_run_being_deleted_takes_no_new_points(migrated_url: str) -> None:
    with _runs(migrated_url) as engine, engine.connect() as writer, engine.connect() as deleter:
        deleter.begin()
        deleter.execute(text("DELETE FROM run WHERE id = 1"))
        writer.execute(text("SET LOCAL lock_timeout = '200ms'"))
        with pytest.raises(OperationalError) as waited:
            _write(writer, (1, "loss", 0, 0.5))
        assert _lock_timeout(waited)
        writer.rollback()
        deleter.commit()
        with pytest.raises(IntegrityError):
            _write(writer, (1, "loss", 0, 0.5))
        writer.rollback()
        assert _stored(engine) == []


def test_truncating_runs_empties_the_points(migrated_url: str) -> None:
    with _runs(migrated_url) as engine:
        with engine.begin() as conn:
            _batch(conn, [1, 2, 3])
            conn.execute(text("TRUNCATE experiment CASCADE"))
        assert _stored(engine) == []


def test_a_run_with_points_keeps_its_id(migrated_url: str) -> None:
    with _runs(migrated_url) as engine:
        with engine.begin() as conn:
            _write(conn, (1, "loss", 0, 0.5))
            conn.execute(text("UPDATE run SET id = 20 WHERE id = 2"))  # no points: allowed
        with pytest.raises(IntegrityError, match="still has metric points"), engine.begin() as conn:
            conn.execute(text("UPDATE run SET id = 10 WHERE id = 1"))
        assert _stored(engine) == [(1, "loss", 0, 0.5)]


def test_runs_are_deleted_at_read_committed_only(migrated_url: str) -> None:
    """Above it the cascade would read an older snapshot and could miss points committed since: refused."""
    with _runs(migrated_url) as engine:
        with engine.begin() as conn:
            _write(conn, (1, "loss", 0, 0.5))
        with (
            pytest.raises(OperationalError, match="READ COMMITTED"),
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            conn.begin(),
        ):
            conn.execute(text("DELETE FROM run WHERE id = 1"))
        assert _stored(engine) == [(1, "loss", 0, 0.5)]


def _postgres_enforcement(engine: Engine) -> tuple[set[str], set[str]]:
    """The metric table's foreign keys and its run-check triggers, by name."""
    with engine.connect() as conn:
        keys = set(
            conn.scalars(
                text(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'metric'::regclass AND contype = 'f'"
                )
            )
        )
        triggers = set(conn.scalars(text("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'metric_run_%'")))
    return keys, triggers


def test_postgres_checks_per_statement_and_the_downgrade_restores_the_key(migrated_url: str) -> None:
    every_trigger = {
        "metric_run_check_insert",
        "metric_run_check_update",
        "metric_run_cascade",
        "metric_run_truncate",
        "metric_run_renumbered",
    }
    with _runs(migrated_url) as engine:
        assert _postgres_enforcement(engine) == (set(), every_trigger)
        command.downgrade(alembic_config(migrated_url), BEFORE)
        assert _postgres_enforcement(engine) == (set(TRIGGER_CHECKED_ON_POSTGRESQL), set())
        with pytest.raises(IntegrityError, match="fk_metric_run_id_run"), engine.begin() as conn:
            _write(conn, (99, "loss", 0, 0.5))
        command.upgrade(alembic_config(migrated_url), "head")
        assert _postgres_enforcement(engine) == (set(), every_trigger)

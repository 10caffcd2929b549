"""Migration 0012: on SQLite the run-keyed tables keep their rows in primary-key order (WITHOUT ROWID), with every
row, foreign key and index they had; downgrading gives back ordinary tables with the same rows."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.exc import IntegrityError

from backend.db import alembic_config, upgrade

TABLES = ("metric", "latest_metric", "run_param", "run_tag", "run_teacher")
BEFORE = "0011_run_param_statistics"


def _seed(path: Path) -> None:
    """Two runs (one the other's teacher) with a metric, a latest value, a param and a tag each."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "INSERT INTO experiment (id, name, description, created_at) VALUES (1, 'e', '', '2026-01-01')"
        )
        for run_id in (1, 2):
            db.execute(
                "INSERT INTO run (id, experiment_id, spec, hparams, task, method, model, status, attempt, queue,"
                " priority, cancel_requested, kind, created_at) VALUES (?, 1, '{}', '{}', 'cifar100', 'erm',"
                " 'resnet18', 'running', 0, 'cpu', 0, 0, 'training', '2026-01-01')",
                (run_id,),
            )
            db.execute("INSERT INTO metric VALUES (?, 'loss', 3, 0.5, 1.0)", (run_id,))
            db.execute("INSERT INTO latest_metric VALUES (?, 'loss', 3, 0.5, 1.0)", (run_id,))
            db.execute("INSERT INTO run_param VALUES (?, 'lr', '0.1', 'float')", (run_id,))
            db.execute("INSERT INTO run_tag VALUES (?, 'baseline')", (run_id,))
        db.execute("INSERT INTO run_teacher VALUES (2, 1, 0)")


def _tables(path: Path) -> dict[str, tuple[bool, list[tuple[object, ...]], set[str]]]:
    """Per table: stored WITHOUT ROWID, its rows, its index names."""
    found = {}
    with closing(sqlite3.connect(path)) as db:
        for table in TABLES:
            sql = db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            rows = db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            indexes = {
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                    (table,),
                )
            }
            found[table] = ("WITHOUT ROWID" in sql[0], rows, indexes)
    return found


@pytest.fixture()
def at_0011(tmp_path: Path) -> Path:
    path = tmp_path / "xclab.db"
    upgrade(f"sqlite:///{path}", BEFORE)
    _seed(path)
    return path


def test_upgrade_clusters_the_tables_and_keeps_rows_and_indexes(at_0011: Path) -> None:
    before = _tables(at_0011)
    assert not any(clustered for clustered, _, _ in before.values())
    upgrade(f"sqlite:///{at_0011}")
    after = _tables(at_0011)
    for table in TABLES:
        clustered, rows, indexes = after[table]
        assert clustered, table
        assert rows == before[table][1] and rows, table
        assert indexes == before[table][2], table
    with closing(sqlite3.connect(at_0011)) as db:
        db.execute("PRAGMA foreign_keys = ON")
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        with pytest.raises(
            sqlite3.IntegrityError
        ):  # the foreign keys still hold: no metric for a missing run
            db.execute("INSERT INTO metric VALUES (99, 'loss', 1, 0.1, 1.0)")
        with pytest.raises(sqlite3.IntegrityError):  # a teacher with a student is kept (ON DELETE RESTRICT)
            db.execute("DELETE FROM run WHERE id = 1")
        with db:
            db.execute("DELETE FROM run_teacher")
            db.execute("DELETE FROM run WHERE id = 1")  # and the rest still cascade
        assert db.execute("SELECT count(*) FROM metric WHERE run_id = 1").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM run_param WHERE run_id = 2").fetchone() == (1,)


def test_downgrade_gives_back_ordinary_tables_with_the_same_rows(at_0011: Path) -> None:
    before = _tables(at_0011)
    url = f"sqlite:///{at_0011}"
    upgrade(url)
    command.downgrade(alembic_config(url), BEFORE)
    assert _tables(at_0011) == before


def test_a_failed_copy_keeps_the_rows_and_the_upgrade_can_run_again(at_0011: Path) -> None:
    """A param row whose run is gone (written with foreign keys off) stops the copy; nothing is lost, and once the
    row is removed the same upgrade runs through (the half-made copy left by SQLite's DDL is started over)."""
    before = _tables(at_0011)
    with closing(sqlite3.connect(at_0011)) as db, db:
        db.execute(
            "INSERT INTO run_param VALUES (99, 'lr', '0.1', 'float')"
        )  # foreign keys are off by default
    url = f"sqlite:///{at_0011}"
    with pytest.raises(IntegrityError):
        upgrade(url)
    after_failure = _tables(at_0011)
    for table in TABLES:
        assert set(before[table][1]) <= set(after_failure[table][1]), table
    with closing(sqlite3.connect(at_0011)) as db, db:
        db.execute("DELETE FROM run_param WHERE run_id = 99")
    upgrade(url)
    done = _tables(at_0011)
    assert all(clustered for clustered, _, _ in done.values())
    assert {table: rows for table, (_, rows, _) in done.items()} == {t: r for t, (_, r, _) in before.items()}

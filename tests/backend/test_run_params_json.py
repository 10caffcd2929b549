"""Migration 0014: every stored run gets its params as one JSON object on its row (`run.params_json`), read from
its run_param rows, keys in code-point order; a run without params an empty object."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from backend.db import alembic_config, make_engine
from backend.models import Run

BEFORE = "0013_postgres_metric_run_check"
# Stored as the API stores them (text and type); "B" sorts before "a" by code point, not in every collation.
PARAMS = [("lr", "0.30000000000000004", "float"), ("a", "9007199254740993", "int"), ("B", "x y", "str")]
PARAMS += [("amp", "true", "bool")]


def test_upgrade_fills_in_each_runs_params(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, BEFORE)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO experiment (id, name, description, created_at) VALUES (1, 'e', '', :t)"),
                           {"t": datetime(2026, 1, 1, tzinfo=UTC)})  # fmt: skip
        for run_id in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO run (id, experiment_id, spec, hparams, task, method, model, status, attempt, "
                    "queue, cancel_requested, created_at) VALUES (:id, 1, '{}', '{}', '', '', '', 'running', 1, "
                    "'', :no, :t)"
                ),
                {"id": run_id, "no": False, "t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        connection.execute(
            text("INSERT INTO run_param (run_id, key, value, type) VALUES (1, :k, :v, :t)"),
            [{"k": k, "v": v, "t": t} for k, v, t in PARAMS],
        )
    command.upgrade(cfg, "head")
    with engine.connect() as connection:
        stored = dict(connection.execute(select(Run.id, Run.params_json).order_by(Run.id)).all())
    engine.dispose()
    assert stored[1] == {"B": "x y", "a": 9007199254740993, "amp": True, "lr": 0.30000000000000004}
    assert list(stored[1]) == ["B", "a", "amp", "lr"] and type(stored[1]["a"]) is int
    assert stored[2] == {}

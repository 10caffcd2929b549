"""Planner statistics refreshed after a burst of writes (PostgreSQL), by the API's own background task."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from backend import planner_stats
from backend.app import create_app
from backend.db import make_engine
from tests.backend.conftest import TOKEN
from xclab.settings import Settings


def _analyzed(engine: Engine, table: str) -> bool:
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).first()
    return row is not None and row[0] is not None


def _until(condition, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_only_tables_grown_past_their_statistics_are_analyzed(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO experiment (name, description, created_at) VALUES ('e', '', now())")
            )
        engine.dispose()  # a backend reports its counters when it ends at the latest
        assert "experiment" not in planner_stats.stale_tables(engine)  # 1 row: under 50 + 10 %
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO experiment (name, description, created_at) "
                    "SELECT 'e' || g, '', now() FROM generate_series(1, 200) g"
                )
            )
        engine.dispose()
        assert _until(lambda: "experiment" in planner_stats.stale_tables(engine))
        assert planner_stats.analyze_stale(engine) == ["experiment"]
        assert _analyzed(engine, "experiment") and not _analyzed(engine, "run")
        assert _until(lambda: "experiment" not in planner_stats.stale_tables(engine))
        with engine.begin() as connection:  # rows rewritten, none added: the size the plans use is the same
            connection.execute(text("UPDATE experiment SET description = 'changed'"))
            connection.execute(text("UPDATE experiment SET description = 'again'"))
        engine.dispose()
        time.sleep(1.5)  # counters reach the statistics views within a second of a transaction's end
        assert planner_stats.stale_tables(engine) == []
    finally:
        engine.dispose()


def test_the_api_refreshes_statistics_after_a_burst_of_runs(migrated_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=migrated_url, api_token=TOKEN, _env_file=None)
    engine = make_engine(migrated_url)
    try:
        with TestClient(create_app(settings), headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            experiment = api.post("/api/v1/experiments", json={"name": "burst"}).json()["id"]
            for i in range(120):
                body = {"experiment_id": experiment, "params": {"arch": f"a{i % 3}", "lr": 0.1}}
                assert api.post("/api/v1/runs", json=body).status_code == 202
            assert _until(lambda: _analyzed(engine, "run") and _analyzed(engine, "run_param"))
    finally:
        engine.dispose()

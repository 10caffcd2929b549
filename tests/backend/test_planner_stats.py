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


def _insert_experiments(engine: Engine, count: int, prefix: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO experiment (name, description, created_at) "
                "SELECT :prefix || g, '', now() FROM generate_series(1, :count) g"
            ),
            {"prefix": prefix, "count": count},
        )


def test_only_tables_grown_past_their_statistics_are_analyzed(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as connection:  # only this test's passes analyze the table
            connection.execute(text("ALTER TABLE experiment SET (autovacuum_enabled = off)"))
        _insert_experiments(engine, 1, "one")
        assert "experiment" not in planner_stats.stale_tables(engine)  # one page: under the two-page minimum
        # Seen at once: the size on disk, not the row counters a busy backend reports a second or more later
        # (the engine keeps its connection, whose counters stay unreported while it idles).
        _insert_experiments(engine, 10_000, "e")
        assert planner_stats.stale_tables(engine) == ["experiment"]
        assert planner_stats.analyze_stale(engine) == ["experiment"]
        assert _analyzed(engine, "experiment") and not _analyzed(engine, "run")
        assert planner_stats.stale_tables(engine) == []
        # Pages more than the minimum, within a fifth of the size analyzed.
        _insert_experiments(engine, 500, "few")
        assert planner_stats.stale_tables(engine) == []
        with engine.begin() as connection:  # every row rewritten twice: three versions each until vacuumed, a
            connection.execute(text("UPDATE experiment SET description = 'changed'"))  # size the planner
            connection.execute(text("UPDATE experiment SET description = 'again'"))  # scales its rows by
        assert planner_stats.stale_tables(engine) == ["experiment"]
    finally:
        engine.dispose()


def test_a_table_analyzed_while_its_rows_were_uncommitted_is_analyzed_again_once_they_are_reported(
    migrated_url: str,
) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE experiment SET (autovacuum_enabled = off)"))
        with engine.connect() as writer:
            with writer.begin():
                writer.execute(
                    text(
                        "INSERT INTO experiment (name, description, created_at) "
                        "SELECT 'e' || g, '', now() FROM generate_series(1, 10000) g"
                    )
                )
                # Their pages are on disk already; ANALYZE records them, without the rows.
                assert planner_stats.analyze_stale(engine) == ["experiment"]
                assert planner_stats.stale_tables(engine) == []
        engine.dispose()  # a backend reports its counters when it ends at the latest
        assert _until(lambda: planner_stats.stale_tables(engine) == ["experiment"])
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

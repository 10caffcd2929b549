"""PostgreSQL estimates a param filter (key and value together) from extended statistics, not as if key and
value were independent (migration 0011)."""

from __future__ import annotations

import json

from sqlalchemy import text

from backend.db import make_engine
from backend.store.tracking_runs import insert_tracking_run


def test_a_param_filter_is_estimated_from_key_and_value_together(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as connection:
            experiment = connection.execute(
                text(
                    "INSERT INTO experiment (name, description, created_at) VALUES ('e', '', now()) RETURNING id"
                )
            ).scalar_one()
            for i in range(
                2000
            ):  # ten keys, each with values of its own; arch=resnet50 on a fifth of the runs
                params = {f"k{k}": f"k{k}-v{i % 7}" for k in range(9)}
                params["arch"] = ["resnet50", "resnet18", "vit", "mobilenet", "resnet101"][i % 5]
                insert_tracking_run(connection, experiment, name=None, params=params)
            connection.execute(text("ANALYZE run_param"))
        with engine.connect() as connection:
            plan = connection.execute(
                text(
                    "EXPLAIN (FORMAT JSON) SELECT run_id FROM run_param "
                    "WHERE key = 'arch' AND value = 'resnet50'"
                )
            ).scalar_one()
        estimate = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Plan Rows"]
        assert 300 <= estimate <= 800, estimate  # 400 rows match; as if independent: 20,000 * 0.1 * 0.02 = 40
    finally:
        engine.dispose()

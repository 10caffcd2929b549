"""The columns a runs table can offer: param keys come in code-point order, as a run's params do, whatever the
database's collation."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from backend.db import make_engine, make_session_factory
from backend.store.run_columns import run_columns
from backend.store.run_list import RunFilter
from backend.store.run_params import add_params
from tests.backend.store.factories import make_run


def test_param_keys_come_in_code_point_order_under_a_language_collation(migrated_url: str) -> None:
    """A PostgreSQL database made with a language's collation (as many are) sorts `a` before `B`; a run's params
    answer `B` first, and so does the columns endpoint."""
    engine = make_engine(migrated_url)
    try:
        with make_session_factory(engine)() as session:
            if session.scalar(text("SELECT 1 FROM pg_collation WHERE collname = 'en-x-icu'")) is None:
                pytest.skip("this PostgreSQL was built without ICU collations")
            session.execute(
                text('ALTER TABLE run_param ALTER COLUMN key TYPE varchar(250) COLLATE "en-x-icu"')
            )
            session.commit()
            run_id = make_run(session)
            add_params(session, run_id, {"c": 1, "B": 2, "a": 3}, 200)
            session.commit()
            in_sql = session.scalars(text("SELECT DISTINCT key FROM run_param ORDER BY key")).all()
            columns = run_columns(session, RunFilter())
    finally:
        engine.dispose()
    assert in_sql == ["a", "B", "c"]  # the collation this test is about
    assert columns.param_keys == ["B", "a", "c"]

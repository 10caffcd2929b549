"""A page's run rows read through the driver's cursor equal SQLAlchemy's, value for value and type for type."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Run
from backend.store import lifecycle
from backend.store.run_rows import RUN_COLUMNS, read_runs
from tests.backend.store.factories import make_run


def test_driver_rows_equal_sqlalchemy_rows(session: Session) -> None:
    plain = make_run(session)
    busy = make_run(session, seed=3)
    lifecycle.claim_run(session, busy, "host-a", None)
    run = session.get(Run, busy)
    run.cancel_requested = True
    run.environment = {"torch": "2.14.1", "gpus": [0, 1], "cuda": None}
    run.notes = "ünïcode notes"
    run.finished_at = datetime(2026, 11, 30, 15, 8, 59, 123456, tzinfo=UTC)
    session.commit()

    rows = read_runs(session, [busy, plain, 10_000])  # a missing id is left out
    assert set(rows) == {plain, busy}
    expected = {r.id: r for r in session.execute(select(*RUN_COLUMNS).where(Run.id.in_([plain, busy])))}
    for run_id, row in rows.items():
        assert tuple(row) == tuple(expected[run_id])
        assert [type(v) for v in row] == [type(v) for v in expected[run_id]]
    assert rows[busy].cancel_requested is True and rows[plain].cancel_requested is False
    assert rows[busy].finished_at == datetime(2026, 11, 30, 15, 8, 59, 123456, tzinfo=UTC)
    assert rows[busy].created_at.utcoffset().total_seconds() == 0
    assert rows[busy].environment["gpus"] == [0, 1]
    assert read_runs(session, []) == {}

"""The runs table's keyset pages on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.store import run_list
from tests.backend.store.factories import make_run


def test_keyset_pagination_visits_every_run_once(session: Session) -> None:
    ids = [make_run(session, seed=i) for i in range(7)]
    seen, token = [], None
    while True:
        page, token = run_list.list_runs(session, run_list.RunFilter(), "-id", 3, token)
        seen += [r.id for r in page]
        if token is None:
            break
    assert seen == sorted(ids, reverse=True)
    seen, token = [], None
    while True:
        page, token = run_list.list_runs(session, run_list.RunFilter(), "created_at", 2, token)
        seen += [r.id for r in page]
        if token is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)
    with pytest.raises(Invalid):
        run_list.list_runs(session, run_list.RunFilter(), "nonsense", 3, None)
    with pytest.raises(Invalid):
        run_list.list_runs(session, run_list.RunFilter(), "-id", 3, "garbage!")

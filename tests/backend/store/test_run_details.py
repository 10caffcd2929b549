"""A runs page's details: a run's params come from its row, and only runs stored without them (NULL
`params_json`, by a version before the column) have theirs read from run_param."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.models import Run
from backend.routes.run_out import listed_runs
from backend.store import run_details as details_module
from backend.store.run_params import add_params
from backend.store.run_rows import read_runs
from tests.backend.store.factories import make_run


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[int]]]:
    """The reads `run_details` makes: (part, run ids)."""
    made: list[tuple[str, list[int]]] = []
    real = details_module._rows

    def spy(cursor: Any, postgres: bool, part: str, ids: list[int]) -> list[tuple[Any, ...]]:
        made.append((part, list(ids)))
        return real(cursor, postgres, part, ids)

    monkeypatch.setattr(details_module, "_rows", spy)
    return made


def test_params_on_the_rows_are_not_read_again(session: Session, reads: list[tuple[str, list[int]]]) -> None:
    first, second = make_run(session), make_run(session)
    add_params(session, first, {"x": 1}, 200)
    add_params(session, second, {"b": 2, "B": "up"}, 200)
    session.commit()
    page = listed_runs(session, list(read_runs(session, [first, second]).values()))
    assert [run["params"] for run in page] == [{"x": 1}, {"B": "up", "b": 2}]
    assert [part for part, _ in reads] == ["summary", "tags"]  # no teachers on this page either


def test_a_run_stored_without_them_has_its_params_read(
    session: Session, reads: list[tuple[str, list[int]]]
) -> None:
    first, second = make_run(session), make_run(session)
    add_params(session, first, {"x": 1}, 200)
    add_params(session, second, {"b": 2, "B": "up"}, 200)
    session.execute(update(Run).where(Run.id == second).values(params_json=None))
    session.commit()
    page = listed_runs(session, list(read_runs(session, [first, second]).values()))
    assert ("params", [second]) in reads and [part for part, _ in reads].count("params") == 1
    assert page[1]["params"] == {"B": "up", "b": 2} and list(page[1]["params"]) == ["B", "b"]
    assert page[0]["params"] == {"x": 1}

"""A runs page's details: a run's params come from its row, and only runs stored without them (NULL
`params_json`, by a version before the column) have theirs read from run_param."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.models import LatestMetric, Run, RunTag
from backend.routes.run_out import listed_runs
from backend.store import run_details as details_module
from backend.store.run_params import add_params
from backend.store.run_rows import read_runs
from tests.backend.store.factories import make_run, make_student


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


def test_a_page_with_teachers_reads_them_with_the_rest(
    session: Session, reads: list[tuple[str, list[int]]]
) -> None:
    """Each of a page's reads (its ids sent as one array on PostgreSQL) lands on its own run."""
    teacher = make_run(session)
    student = make_student(session, [teacher])
    session.add_all(
        [
            LatestMetric(run_id=student, key="val_top1", step=3, value=0.5, wall_time=1.0),
            LatestMetric(run_id=teacher, key="loss", step=1, value=2.0, wall_time=1.0),
            RunTag(run_id=student, tag="kd"),
        ]
    )
    session.commit()
    details = details_module.run_details(session, [teacher, student])
    assert [part for part, _ in reads] == [
        "summary",
        "tags",
        "teachers",
        "params",
    ]  # no params passed in: read
    assert details[teacher] == details_module.RunDetails(summary={"loss": 2.0})
    assert details[student] == details_module.RunDetails(
        summary={"val_top1": 0.5}, tags=["kd"], teachers=[teacher]
    )

"""Params kept twice, as run_param rows (for the filters) and as the run's `params_json` (for a runs page): every
way of storing them leaves the two equal."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backend.db import make_session_factory
from backend.models import Run
from backend.store import runs
from backend.store.run_params import add_params, params_of
from tests.backend.store.factories import make_run
from tests.support import digits_spec
from xclab.spec import RunSpec


def _both(session: Session, run_id: int) -> tuple[dict[str, object] | None, dict[str, object]]:
    """The run's `params_json` and its params read from its rows."""
    session.expire_all()
    run = session.get(Run, run_id)
    assert run is not None
    return run.params_json, params_of(run)


def test_a_training_run_and_a_grid_cell_carry_their_params_on_the_row(session: Session) -> None:
    run_id = make_run(session)
    add_params(session, run_id, {"z": 1, "A": "x", "lr": 2**70}, 200)
    session.commit()
    stored, from_rows = _both(session, run_id)
    assert stored == from_rows == {"A": "x", "lr": 2**70, "z": 1} and list(stored or {}) == ["A", "lr", "z"]
    # A grid's cells are made by `new_run` alone: no params, an empty object rather than NULL.
    cell = runs.new_run(RunSpec.model_validate(digits_spec()), 1, "cpu", "queued")
    assert cell.params_json == {}


def test_params_added_at_once_by_two_requests_are_all_kept_on_the_row(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with factory() as session:
        run_id = make_run(session)
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with factory() as other:
                add_params(other, run_id, {"second": 2}, 200)
                other.commit()
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    with factory() as first:
        add_params(
            first, run_id, {"first": 1}, 200
        )  # holds the run's row (the database, on SQLite) from here
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # the second waits for the first to finish, rather than read what it has not
        first.commit()
    thread.join(30)
    assert not thread.is_alive() and not failures
    with factory() as session:
        stored, from_rows = _both(session, run_id)
    assert stored == from_rows == {"first": 1, "second": 2}

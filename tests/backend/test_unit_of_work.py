"""The one place that commits, on real SQLite and PostgreSQL: commit on success, roll back on error, and
commit_then runs its action only once the rows are visible to other connections."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db import make_engine, make_session_factory
from backend.models import Experiment
from backend.unit_of_work import unit_of_work


@pytest.fixture()
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _names(factory: sessionmaker[Session]) -> list[str]:
    """What another connection sees (a worker, the next request)."""
    with factory() as other:
        return list(other.scalars(select(Experiment.name).order_by(Experiment.name)))


def test_commits_on_success_and_rolls_back_on_error(factory: sessionmaker[Session]) -> None:
    with unit_of_work(factory) as uow:
        uow.session.add(Experiment(name="kept", description=""))
    with pytest.raises(RuntimeError), unit_of_work(factory) as uow:
        uow.session.add(Experiment(name="dropped", description=""))
        uow.session.flush()
        raise RuntimeError("refused")
    assert _names(factory) == ["kept"]


def test_commit_then_acts_on_committed_rows_and_commits_what_it_changed(
    factory: sessionmaker[Session],
) -> None:
    seen: list[list[str]] = []
    with unit_of_work(factory) as uow:
        experiment = Experiment(name="published", description="")
        uow.session.add(experiment)

        def publish() -> str:
            seen.append(_names(factory))  # the action runs after the commit
            experiment.description = "task 42"
            return "ok"

        assert uow.commit_then(publish) == "ok"
        assert _names(factory) == ["published"]
    assert seen == [["published"]]
    with factory() as other:
        assert other.scalars(select(Experiment.description)).one() == "task 42"


def test_a_failing_action_still_commits_its_changes_then_raises(factory: sessionmaker[Session]) -> None:
    class BrokerDown(Exception):
        pass

    with pytest.raises(BrokerDown), unit_of_work(factory) as uow:
        experiment = Experiment(name="stored", description="")
        uow.session.add(experiment)

        def publish() -> None:
            experiment.description = "failed: broker down"
            raise BrokerDown

        uow.commit_then(publish)
        uow.session.add(Experiment(name="never", description=""))  # not reached
    with factory() as other:
        assert list(other.execute(select(Experiment.name, Experiment.description))) == [
            ("stored", "failed: broker down")
        ]

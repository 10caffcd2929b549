"""The one place that commits.

The rule: a request that writes gets one unit of work (`backend.deps.get_unit_of_work`), and so does each pass of
the stale-run sweeper; a GET reads in a read session (`backend.deps.get_read_session`), which has nothing to
commit and refuses to write. Routes and store functions add, change and flush rows, and raise to refuse; they never call
`commit` or `rollback` on a session. When the route returns, the unit of work commits everything at once; when
anything raises, it rolls back what is not yet committed.

Work that needs the rows committed first goes through `commit_then`: publishing a run id to the broker is such
work, since a worker may claim the run at once and must find its row. The unit of work commits, runs the action,
and commits what the action changed (a Celery task id, or the run failed because the broker is down) even when
the action raises; the error (`BrokerUnavailable`, answered 503) then leaves the route like any other. A route
calls it when its answer needs the outcome, so the answer shows the state the database now holds. `checkpoint`
commits mid-route for the artifact upload, so that no transaction stays open while a large body streams in.

In a request the unit of work is a dependency with scope="function": FastAPI runs its exit code, hence the final
commit, once the route has returned and before the response is sent, so a client's next call (a worker's
heartbeat after its claim) sees what this one wrote.

Tracking's two hot writes (a metric batch, a tracking run's start) take `core_unit_of_work` instead, inside the
one thread-pool trip of their route: a Core connection committed here as well, or, on PostgreSQL, one statement
in autocommit that is the whole unit of work by itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session

    def commit_then(self, action: Callable[[], T]) -> T:
        """Commit, run `action`, then commit what it changed, whether it returned or raised."""
        self.session.commit()
        try:
            return action()
        finally:
            self.session.commit()

    def commit(self) -> None:
        self.session.commit()

    def checkpoint(self) -> None:
        """Commit what is done so far, holding no transaction or row lock afterwards: before a long wait (an
        upload streaming in), and to make a write durable while an outside resource (a file lock) is held."""
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[UnitOfWork]:
    """Commit on success, roll back on any error."""
    session = factory()
    uow = UnitOfWork(session)
    try:
        yield uow
        uow.commit()
    except Exception:
        uow.rollback()
        raise
    finally:
        session.close()


def _finish(uow: UnitOfWork, ok: bool) -> None:
    try:
        if ok:
            uow.commit()
        else:
            uow.rollback()
    except Exception:
        uow.rollback()
        raise
    finally:
        uow.session.close()


@contextmanager
def core_unit_of_work(engine: Engine, *, autocommit: bool = False) -> Iterator[Connection]:
    """A unit of work on a Core connection, for a hot path that the ORM session would slow down: committed on
    success, rolled back on any error. `autocommit`: each statement commits itself (a write that is one statement,
    saving the BEGIN and COMMIT round trips of a server database)."""
    with engine.connect() as connection:
        if autocommit:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            yield connection
            connection.commit()
        except Exception:
            connection.rollback()
            raise


@asynccontextmanager
async def request_unit_of_work(factory: sessionmaker[Session]) -> AsyncIterator[UnitOfWork]:
    """`unit_of_work` for a request, entered on the event loop: a new session does no I/O (its connection is
    taken at the first query, in the route's thread), and the commit (or rollback) and close run together in one
    trip to the thread pool. A plain `def` dependency costs a thread-pool trip on entry and another on exit."""
    uow = UnitOfWork(factory())
    try:
        yield uow
    except BaseException:
        await run_in_threadpool(_finish, uow, False)
        raise
    await run_in_threadpool(_finish, uow, True)

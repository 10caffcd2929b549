from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Stack, fresh_postgres_database, start_stack

# The fixtures that reach each service; a test using one (directly or through other fixtures) gets the marker, so
# that `pytest -m "not postgres and not redis"` runs everything that needs neither server.
SERVICE_FIXTURES = {
    "postgres": {"postgres_url", "postgres_template"},
    "redis": {"redis_stack"},
}


def _services(item: pytest.Item) -> set[str]:
    used = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    # `database_url` picks its database by parameter and asks for the PostgreSQL template only at run time.
    if callspec is not None and callspec.params.get("database_url") == "postgres":
        used.add("postgres_template")
    return {marker for marker, fixtures in SERVICE_FIXTURES.items() if used & fixtures}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker in sorted(_services(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One API server + one Celery worker on the embedded defaults (SQLite, filesystem broker) for the session."""
    stack = start_stack(tmp_path_factory.mktemp("stack"), workers=1)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and other evidence (kept by CI)."""
    path = Path("test-artifacts")
    path.mkdir(exist_ok=True)
    return path

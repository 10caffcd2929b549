from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Stack, fresh_postgres_database, start_stack


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

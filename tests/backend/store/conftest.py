"""Engines for store tests that drive connections of their own (the event loop's writers, driver cursors)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from backend.db import make_engine


@pytest.fixture()
def engine(database_url: str) -> Iterator[Engine]:
    """On each database in turn."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def pg_engine(migrated_url: str) -> Iterator[Engine]:
    """On PostgreSQL alone."""
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()

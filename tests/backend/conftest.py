from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.app import create_app
from backend.db import make_engine, make_session_factory, upgrade
from tests.support import copy_sqlite_database, fresh_postgres_database
from xclab.settings import Settings

TOKEN = "unit-test-token"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "xclab.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per test session; each test gets `CREATE DATABASE ... TEMPLATE` of it."""
    with fresh_postgres_database() as url:
        upgrade(url)  # leaves no connection open: PostgreSQL copies only a template nobody is connected to
        yield url


@pytest.fixture()
def migrated_url(postgres_template: str) -> Iterator[str]:
    """A fresh migrated PostgreSQL database alone, for tests of PostgreSQL's own machinery."""
    with fresh_postgres_database(template=postgres_template) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store/API test runs on both SQLite and PostgreSQL, each time on a fresh copy of a migrated database."""
    if request.param == "sqlite":
        path = tmp_path / "xclab.db"
        copy_sqlite_database(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        with fresh_postgres_database(template=request.getfixturevalue("postgres_template")) as url:
            yield url


@pytest.fixture()
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, api_token=TOKEN, _env_file=None)


@pytest.fixture()
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as s:
        yield s
    engine.dispose()


@pytest.fixture()
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client

"""The schema check that keeps a server off an un-migrated database."""

from __future__ import annotations

import pytest

from backend.db import SchemaOutOfDate, make_engine, verify_schema


def test_server_refuses_unmigrated_database(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDate, match="xclab db upgrade"):
        verify_schema(engine)

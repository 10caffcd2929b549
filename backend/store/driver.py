"""The pooled connection's own DB-API cursor, for the few hot reads and writes where SQLAlchemy's statement and
row handling cost more than the query (a metric batch, a long history, a runs page's details, a tracking run's
params). Statements built here name only fixed tables and columns; values are always bound parameters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection


def placeholder(connection: Connection) -> str:
    """The driver's parameter marker: `?` (sqlite3) or `%s` (psycopg)."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


@contextmanager
def driver_cursor(connection: Connection) -> Iterator[Any]:
    """A cursor on the connection's DB-API connection, in its transaction; closed on the way out."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


def among_ids(column: str, ids: Sequence[int], postgres: bool) -> tuple[str, list[Any]]:
    """`column` in a page of ids, as SQL text and its parameters: on PostgreSQL one array parameter (the statement
    text stays the same for every page, so the driver prepares it once), sent as the array's text: psycopg
    adapts a list element by element in Python (about 0.5 ms of a 100-run page here); on SQLite an IN list."""
    if postgres:
        return f"{column} = ANY(%s::bigint[])", ["{" + ",".join(map(str, map(int, ids))) + "}"]
    return f"{column} IN ({', '.join('?' * len(ids))})", list(ids)

"""Tracking runs created on a Core connection: a training script's `start_run` is the most frequent way a run is
born, and the ORM's unit of work (instance state, cascades, a flush per mapper) cost more than the inserts.
On PostgreSQL the run and its params are one statement in autocommit (one round trip instead of seven: 1.9 ->
0.6 ms), written here as SQL text so that the front door can send it on the event loop's own connection too
(`backend.store.loop_writer`). The run comes back as its inserted row (every column) and its params as stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, Column, Connection, bindparam, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from backend.errors import NotFound
from backend.models import Experiment, Run, utcnow
from backend.store.driver import driver_cursor, placeholder
from backend.store.run_params import ParamValue, document, encode
from backend.store.run_rows import RUN_COLUMN_NAMES

_RUN = Run.__table__
_EXPERIMENT = select(Experiment.__table__.c.id).where(Experiment.__table__.c.id == bindparam("experiment_id"))
_TRACKING = {
    "kind": "tracking",
    "spec": {},
    "hparams": {},
    "task": "",
    "method": "",
    "model": "",
    "queue": "",
    "status": "running",
}


def _constant(column: Column[Any]) -> Any:
    """A tracking run's value for a column of `run` the caller does not give: this module's or the column's own
    scalar default. A new column whose default is computed in Python must be given a value here."""
    if column.name in _TRACKING:
        value = _TRACKING[column.name]
    elif column.default is None and column.server_default is not None:
        # SQLAlchemy leaves such a column out of an insert; this statement names every column.
        raise TypeError(f"run.{column.name}: give a tracking run's value here or a default in Python too")
    elif column.default is None:
        value = None
    elif column.default.is_scalar:
        value = column.default.arg  # type: ignore[attr-defined]
    else:
        raise TypeError(f"run.{column.name}: a default computed in Python has no value for a tracking run")
    # A JSON column's None is SQL NULL, as SQLAlchemy writes a column left to its None default.
    return Json(value) if isinstance(column.type, JSON) and value is not None else value


# Parameters the caller gives; the other columns get constants, bound as parameters too (`_CONSTANTS`).
_BOUND = {
    "experiment_id": "experiment_id",
    "name": "name",
    "created_at": "now",
    "started_at": "now",
    "params_json": "params_json",
}
_COLUMNS = [column for column in _RUN.c if column.name != "id"]
_CONSTANTS = {f"c_{c.name}": _constant(c) for c in _COLUMNS if c.name not in _BOUND}
_VALUES = [f"%({_BOUND.get(c.name, f'c_{c.name}')})s" for c in _COLUMNS]
_RETURNED = ", ".join(RUN_COLUMN_NAMES)

# PostgreSQL: the run and its params (three text arrays, one row per param) in one statement, the run returned
# with every column in `RUN_COLUMN_NAMES` order. Used on the pooled connection (`_insert_postgres`) and on the
# event loop's own (`backend.store.loop_writer.PostgresLoopWriter.create_tracking_run`), so both insert alike.
#
# The run's row is inserted only when its experiment exists, so that a missing one inserts nothing and draws no id
# from the sequence (a failed insert would have used one up); the statement then returns no row.
PG_CREATE = f"""
WITH new_run AS (
    INSERT INTO run ({", ".join(column.name for column in _COLUMNS)})
    SELECT {", ".join(_VALUES)}
    WHERE EXISTS (SELECT 1 FROM experiment WHERE id = %(experiment_id)s)
    RETURNING {_RETURNED}
), new_params AS (
    INSERT INTO run_param (run_id, key, value, type)
    SELECT new_run.id, u.k, u.v, u.t
    FROM new_run, unnest(%(keys)s::text[], %(vals)s::text[], %(types)s::text[]) AS u(k, v, t)
)
SELECT {_RETURNED} FROM new_run
"""


def _missing(experiment_id: int) -> NotFound:
    return NotFound(f"experiment {experiment_id} not found")


def insert_tracking_run(
    connection: Connection, experiment_id: int, *, name: str | None, params: Mapping[str, ParamValue]
) -> tuple[Row[Any], dict[str, ParamValue]]:
    """A run no worker executes: a script elsewhere logs to it and finishes it. It starts `running`, with no
    heartbeat: the stale-run sweep leaves it alone unless its client sends heartbeats (then stops). Returns its
    row and its params as stored. On PostgreSQL the connection should be in autocommit, the statement being the
    whole unit of work."""
    encoded = encode_params(params)
    now = utcnow()
    row: Row[Any]
    if connection.dialect.name == "postgresql":
        row = _insert_postgres(connection, experiment_id, name, now, encoded)
    else:
        row = _insert_plain(connection, experiment_id, name, now, encoded)
    return row, encoded.stored


@dataclass(frozen=True, slots=True)
class Encoded:
    rows: list[tuple[str, str, str]]  # (key, text, type) per param, as `run_param` stores them
    stored: dict[str, ParamValue]  # as they read back (`Run.params_json`)


def encode_params(params: Mapping[str, ParamValue]) -> Encoded:
    rows = [(key, *encode(value)) for key, value in params.items()]
    return Encoded(rows, document({key: (text, kind) for key, text, kind in rows}))


def pg_create_params(experiment_id: int, name: str | None, now: datetime, encoded: Encoded) -> dict[str, Any]:
    """`PG_CREATE`'s parameters."""
    return {
        **_CONSTANTS,
        "experiment_id": experiment_id,
        "name": name,
        "now": now,
        "params_json": Json(encoded.stored),
        "keys": [p[0] for p in encoded.rows],
        "vals": [p[1] for p in encoded.rows],
        "types": [p[2] for p in encoded.rows],
    }


def _insert_postgres(
    connection: Connection, experiment_id: int, name: str | None, now: datetime, encoded: Encoded
) -> Row[Any]:
    # Through SQLAlchemy's execution, so that the database's refusals come as its exceptions (a value out of
    # range is a DataError, answered 422) and a lost connection is handled as on every other statement.
    try:
        row = connection.exec_driver_sql(
            PG_CREATE, pg_create_params(experiment_id, name, now, encoded)
        ).one_or_none()
    except IntegrityError:
        # The experiment was there when the statement looked and gone by the insert's foreign-key check.
        if connection.execute(_EXPERIMENT, {"experiment_id": experiment_id}).first() is None:
            raise _missing(experiment_id) from None
        raise
    if row is None:  # no such experiment: nothing was inserted
        raise _missing(experiment_id)
    return row


def _insert_plain(
    connection: Connection, experiment_id: int, name: str | None, now: Any, encoded: Encoded
) -> Row[Any]:
    if connection.execute(_EXPERIMENT, {"experiment_id": experiment_id}).first() is None:
        raise _missing(experiment_id)
    values = {
        **_TRACKING,
        "experiment_id": experiment_id,
        "name": name,
        "created_at": now,
        "started_at": now,
        "params_json": encoded.stored,
    }
    row = connection.execute(insert(_RUN).returning(*_RUN.c), values).one()
    if encoded.rows:
        # The driver's executemany: SQLAlchemy's per-row parameter processing costs more than the insert.
        p = placeholder(connection)
        with driver_cursor(connection) as cursor:
            cursor.executemany(
                f"INSERT INTO run_param (run_id, key, value, type) VALUES ({p}, {p}, {p}, {p})",
                [(row.id, *param) for param in encoded.rows],
            )
    return row

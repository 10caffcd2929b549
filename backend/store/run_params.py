"""Free-form run params: stored as text plus a type, so any value is found by one index and read back typed.

A param once set keeps its value: setting it again to the same value is a no-op (a retried request is safe),
to another value a 409 that names the key, so a logged configuration is never silently rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict
from backend.models import Run, RunParam

ParamValue = bool | int | float | str


def encode(value: ParamValue) -> tuple[str, str]:
    """(text, type): the text is what a `param=key:value` filter compares with."""
    if isinstance(value, bool):  # before int: bool is an int
        return ("true" if value else "false"), "bool"
    if isinstance(value, int):
        return str(value), "int"
    if isinstance(value, float):
        return repr(value), "float"
    return value, "str"


def decode(text: str, kind: str) -> ParamValue:
    if kind == "bool":
        return text == "true"
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def params_of(run: Run) -> dict[str, ParamValue]:
    """The run's params from its rows, in code-point order of their keys as `Run.params_json` holds them (the
    database's collation may order them otherwise)."""
    return {row.key: decode(row.value, row.type) for row in sorted(run.param_rows, key=lambda row: row.key)}


def document(encoded: Mapping[str, tuple[str, str]]) -> dict[str, ParamValue]:
    """`Run.params_json` for params encoded as key -> (text, type): the values as they read back, the keys in
    code-point order (so it is the same object whichever way the params were stored)."""
    return {key: decode(text, kind) for key, (text, kind) in sorted(encoded.items())}


def attach_params(run: Run, params: Mapping[str, ParamValue]) -> None:
    """A run being created gets its params: its rows (through `Run.param_rows`) and `Run.params_json`."""
    encoded = _encoded(params)
    run.param_rows = [RunParam(key=key, value=text, type=kind) for key, (text, kind) in encoded.items()]
    run.params_json = document(encoded)


def add_params(session: Session, run_id: int, params: Mapping[str, ParamValue], max_params: int) -> None:
    """Add params to an existing run; refuses a changed value or more than `max_params` in all."""
    # The run's row is written first, so that two requests adding params to one run take turns: each then reads
    # the params the other stored and rewrites `Run.params_json` with both (and both count towards `max_params`).
    # A write, not SELECT ... FOR UPDATE, which SQLite ignores: there the update takes the database's write lock.
    session.execute(
        update(Run).where(Run.id == run_id).values(params_json=Run.params_json),
        execution_options={"synchronize_session": False},
    )
    wanted = _encoded(params)
    have = {
        key: (value, kind)
        for key, value, kind in session.execute(
            select(RunParam.key, RunParam.value, RunParam.type).where(RunParam.run_id == run_id)
        )
    }
    changed = sorted(k for k, v in wanted.items() if k in have and have[k] != v)
    if changed:
        shown = ", ".join(f"'{k}' is {decode(*have[k])!r}" for k in changed)
        raise Conflict(f"run {run_id}: params keep their first value ({shown}); log a new key instead")
    new = {k: v for k, v in wanted.items() if k not in have}
    if len(have) + len(new) > max_params:
        raise Conflict(f"run {run_id} would have {len(have) + len(new)} params; at most {max_params} per run")
    if new:
        session.add_all(RunParam(run_id=run_id, key=k, value=t, type=kind) for k, (t, kind) in new.items())
        session.execute(update(Run).where(Run.id == run_id).values(params_json=document({**have, **new})))
        session.flush()


def _encoded(params: Mapping[str, ParamValue]) -> dict[str, tuple[str, str]]:
    return {key: encode(value) for key, value in params.items()}

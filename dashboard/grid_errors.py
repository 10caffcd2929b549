"""A rejected grid's validation errors as readable lines (no Streamlit here)."""

from __future__ import annotations

from typing import Any

from xclab.client import ApiError


def _path(loc: list[Any]) -> list[str]:
    """An error's location without the request-body prefix."""
    path = [str(p) for p in loc]
    for prefix in (["body", "definition"], ["body"]):
        if path[: len(prefix)] == prefix:
            return path[len(prefix) :]
    return path


MAX_CELLS_NAMED = 3


def error_lines(err: ApiError) -> list[str]:
    """One Markdown line per distinct problem (where, then the API's message); the same problem in many cells
    is one line naming the first few cells, not a screenful of copies. Other errors as they are."""
    groups: dict[tuple[str, str], list[str]] = {}
    for error in err.field_errors:
        path = _path(error.get("loc", []))
        cell = ""
        if len(path) >= 2 and path[0] == "cells":
            cell, path = path[1], ["cells", *path[2:]]
        groups.setdefault((" › ".join(path), str(error["msg"])), []).append(cell)
    lines = []
    for (where, msg), cells in groups.items():
        named = [c for c in cells if c]
        if len(named) == 1:
            where = " › ".join(["cells", named[0], *where.split(" › ")[1:]])
        suffix = ""
        if len(named) > 1:
            more = f" and {len(named) - MAX_CELLS_NAMED} more" if len(named) > MAX_CELLS_NAMED else ""
            suffix = f" in {len(named)} cells ({', '.join(named[:MAX_CELLS_NAMED])}{more})"
        lines.append(f"`{where}`{suffix}: {msg}" if where else msg)
    return lines or [err.message]

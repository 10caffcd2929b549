"""Keyset page tokens: the (sort value, run id) a page ended at, as URL-safe base64 JSON.

A token comes back from the client, so every part of it is checked (with explicit tests, not `assert`, which
`python -O` removes) and anything unexpected is a 422 on `page_token`.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from backend.errors import Invalid, invalid

METRIC_SORT = "metric:"
MALFORMED = "malformed page_token; pass the next_page_token of the previous page unchanged (same sort)"


def encode(value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    return base64.urlsafe_b64encode(json.dumps([value, last_id], default=str).encode()).decode()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sort_value(value: Any, sort_name: str) -> Any:
    """The token's sort value as the column compares it, or raise ValueError when it cannot be one."""
    if sort_name.startswith(METRIC_SORT):
        ok = value is None or _is_number(value)  # None: the page ended among the runs without the metric
    elif sort_name == "id":
        ok = _is_int(value)
    elif sort_name == "created_at":
        if not isinstance(value, str):
            raise ValueError("created_at is not a string")
        return datetime.fromisoformat(value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"not a value of {sort_name}")
    return value


def decode(token: str, sort_name: str) -> tuple[Any, int]:
    """The (sort value, id) a page ended at, checked against the sort it is used with."""
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not (isinstance(values, list) and len(values) == 2 and _is_int(values[1])):
            raise ValueError("not a [value, id] pair")
        return _sort_value(values[0], sort_name), values[1]
    except (ValueError, RecursionError):  # bad base64, UTF-8, JSON or value; absurdly nested JSON
        raise malformed(token)


def malformed(token: str) -> Invalid:
    return invalid(("query", "page_token"), MALFORMED, token)

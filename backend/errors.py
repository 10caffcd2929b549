"""Errors the service raises, free of HTTP; the app maps each to one status code.

Validation problems found after FastAPI parsed a request (a spec against the catalog, a page token, a query that
needs one of two parameters) are reported in FastAPI's own 422 shape, built only by `field_error`, so a client
reads every 422 the same way whoever raised it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from xclab.spec import SpecIssue

Loc = Sequence[str | int]


class StoreError(Exception):
    status_code = 400

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(StoreError):
    status_code = 404


class Conflict(StoreError):
    status_code = 409


class Invalid(StoreError):
    """A request that parsed but does not make sense; `detail` is a list in FastAPI's 422 shape."""

    status_code = 422


class BrokerUnavailable(StoreError):
    """The run is stored (and marked failed) but could not be handed to the broker."""

    status_code = 503


def field_error(loc: Loc, msg: str, input: Any = None, *, type: str = "value_error") -> dict[str, Any]:
    """One entry of a 422 `detail` list, as FastAPI writes its own."""
    return {"type": type, "loc": list(loc), "msg": msg, "input": input}


def invalid(loc: Loc, msg: str, input: Any = None, *, type: str = "value_error") -> Invalid:
    """A 422 about one field, e.g. `raise invalid(("query", "sort"), "cannot sort by ...", sort)`."""
    return Invalid([field_error(loc, msg, input, type=type)])


def spec_errors(issues: Iterable[SpecIssue], prefix: Loc) -> list[dict[str, Any]]:
    """Catalog problems of a spec, located under `prefix` (where the spec sits in the request)."""
    return [field_error([*prefix, *issue.loc], issue.msg, issue.input) for issue in issues]


def pydantic_errors(exc: ValidationError, prefix: Loc) -> list[dict[str, Any]]:
    """A model's validation errors, located under `prefix`."""
    return [
        field_error([*prefix, *e["loc"]], e["msg"], e.get("input"), type=e["type"])
        for e in exc.errors(include_url=False)
    ]

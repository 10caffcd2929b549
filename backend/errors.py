"""Store errors, free of HTTP; the app maps each to one status code."""

from __future__ import annotations

from typing import Any


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

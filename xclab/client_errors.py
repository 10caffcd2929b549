"""The REST client's one error type: what the API refused, or (the subclass) that it gave no answer."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The API answered with an error status; `detail` is its `detail`: a string, or FastAPI's 422 list."""

    def __init__(
        self, status_code: int | None, detail: Any, reason_phrase: str = "", attempts: int = 1
    ) -> None:
        self.status_code = status_code
        self.detail = detail
        self.reason_phrase = reason_phrase
        # How often the request was sent: above 1, an earlier try may have reached the server unanswered.
        self.attempts = attempts
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One readable line, e.g. "409 Conflict: run 3 is running, not queued"."""
        if self.field_errors:
            text = "; ".join(f"{_dotted(e.get('loc', []))}: {e['msg']}" for e in self.field_errors)
        else:
            text = str(self.detail)
        if self.status_code == 401:
            text += " (set XCL_API_TOKEN, or start the stack with `xclab up`, which stores .xclab/token)"
        return f"{f'{self.status_code} {self.reason_phrase}'.strip()}: {text}"

    @property
    def field_errors(self) -> list[dict[str, Any]]:
        """FastAPI-shaped validation errors ({loc, msg, ...}); empty for other errors."""
        if isinstance(self.detail, list):
            return [e for e in self.detail if isinstance(e, dict) and "msg" in e]
        return []

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:  # picklable: Celery's pool sends exceptions between processes
        return type(self), (self.status_code, self.detail, self.reason_phrase, self.attempts)

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            detail: Any = response.text or response.reason_phrase
        else:
            detail = body.get("detail", body) if isinstance(body, dict) else body
        return cls(response.status_code, detail, response.reason_phrase)


class ApiUnavailable(ApiError):
    """No answer at all: the API is down, the URL is wrong, or the connection broke before an answer came."""

    def __init__(self, url: str, reason: str, attempts: int = 1) -> None:
        self.url = url
        self.reason = reason
        super().__init__(None, reason, attempts=attempts)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.url, self.reason, self.attempts)

    @property
    def message(self) -> str:
        return f"cannot reach the XCL Lab API at {self.url}: {self.reason}"


def _dotted(loc: list[Any]) -> str:
    return ".".join(str(part) for part in loc)

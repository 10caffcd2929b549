"""The REST client's HTTP layer: how a request is sent, when it is retried, and its one error type.

Retries: only requests that are safe to send twice are retried, on transport failures and 502/503/504, for up to
`retry_seconds` (long enough to ride out an API restart). GET, PUT and DELETE are; a POST or PATCH is only when
its caller says so (`idempotent=True`). Anything else is sent once: a lost answer must not cause a second effect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

TRANSIENT_STATUSES = frozenset({502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
UPLOAD_CHUNK = 1 << 20

T = TypeVar("T")


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


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, ApiUnavailable) or (
        isinstance(exc, ApiError) and exc.status_code in TRANSIENT_STATUSES
    )


class HttpSession:
    """One pooled HTTP connection to the API's /api/v1, with the retry policy above."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float,
        connect_timeout: float | None,
        retry_seconds: float,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry_seconds = retry_seconds
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout or timeout),
        )

    def close(self) -> None:
        self._http.close()

    def send(
        self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> httpx.Response:
        """The answer, or ApiError for an error status, ApiUnavailable for none at all."""

        def once() -> httpx.Response:
            response = self._http.request(method, path, **kwargs)
            if response.is_error:
                raise ApiError.from_response(response)
            return response

        return self._with_retries(once, method in IDEMPOTENT_METHODS if idempotent is None else idempotent)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.send(method, path, **kwargs)
        return response.json() if response.content else None

    def download(self, path: str, target: Path) -> Path:
        """Stream a GET's body into a file (large checkpoints never sit in memory whole)."""

        def once() -> Path:
            with self._http.stream("GET", path) as response:
                if response.is_error:
                    response.read()
                    raise ApiError.from_response(response)
                with target.open("wb") as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)
            return target

        return self._with_retries(once, idempotent=True)

    def upload(self, path: str, file: Path, params: dict[str, Any]) -> Any:
        """PUT a file's bytes, streamed from disk in chunks with its Content-Length (a large checkpoint never
        sits in memory whole); each retry reads the file again from its start."""

        def chunks() -> Iterator[bytes]:
            with file.open("rb") as fh:
                while chunk := fh.read(UPLOAD_CHUNK):
                    yield chunk

        headers = {"Content-Length": str(file.stat().st_size), "Content-Type": "application/octet-stream"}

        def once() -> Any:
            response = self._http.request("PUT", path, params=params, content=chunks(), headers=headers)
            if response.is_error:
                raise ApiError.from_response(response)
            return response.json() if response.content else None

        return self._with_retries(once, idempotent=True)

    def _with_retries(self, once: Callable[[], T], idempotent: bool) -> T:
        if not idempotent or self.retry_seconds <= 0:
            return self._unavailable_as_error(once)
        retrying = Retrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=stop_after_delay(self.retry_seconds),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                try:
                    return self._unavailable_as_error(once)
                except ApiError as exc:
                    exc.attempts = attempt.retry_state.attempt_number
                    raise
        raise AssertionError("unreachable: tenacity returns or reraises")

    def _unavailable_as_error(self, once: Callable[[], T]) -> T:
        try:
            return once()
        except httpx.TransportError as exc:
            raise ApiUnavailable(self.url, f"{type(exc).__name__}: {exc}") from exc

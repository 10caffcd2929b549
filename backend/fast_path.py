"""The front door: the requests tracking sends most, answered without FastAPI's request machinery.

A training script logging to XCL Lab sends `POST /api/v1/runs` (start a run) once and
`POST /api/v1/runs/{id}/metrics` (log points) thousands of times; for these the middleware stack, the router's
search through every route and the dependency solving cost more than the database work. `answer` handles only
the plain success of such a request: a bearer token known without a database read (auth off, the admin token,
a token in `backend.token_cache`), a JSON body within the route's size limit that passes `backend.limits`'
checks and validates, and a write that succeeds. It then answers exactly as the route does. Anything else (a
bad body, an unknown token, a refusal, an error) goes on to the full stack, which reads the same body again and
answers as it always has; a refused or failed write here rolled back, so nothing is written twice.

`answer_read` does the same for a read, `GET /api/v1/runs` (a runs page: the search a script or the dashboard
sends): a plain query, and a caller known without a database read when reads need one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException
from pydantic import ValidationError
from sqlalchemy.exc import DataError, StatementError
from starlette.requests import Request

from backend.deps import Principal, bearer, cached_caller, configured_caller
from backend.errors import StoreError
from backend.limits import API_PREFIX, Message, Receive, Send, body_limit, check_json, check_query_and_path
from backend.store.tokens import token_hash

if TYPE_CHECKING:
    from fastapi import FastAPI

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, JSON body, extra headers
# (request, caller, JSON body as sent) -> the answer; raises to leave the request to the full stack. The handler
# parses the body itself: a pydantic model reads JSON bytes in one pass, twice as fast as `json.loads` and then
# validating the objects (for a 1,000-point batch), with the same values and the same refusals.
Handler = Callable[[Request, Principal, bytes], Awaitable[Answer]]
# A read's handler: the request (its query string) -> the answer.
ReadHandler = Callable[[Request], Awaitable[Answer]]


class NotPlain(Exception):
    """Raised by a handler for a request it leaves to the full stack."""


async def _read(receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """The whole body (None past `limit` or on a disconnect) and the messages read, for a replay."""
    messages: list[Message] = []
    size, more = 0, True
    while more:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        size += len(message.get("body", b""))
        if size > limit:
            return None, messages
        more = message.get("more_body", False)
    return b"".join(m.get("body", b"") for m in messages), messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that first gives back what was already read."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def _worth_reading(scope: dict[str, Any], limit: int) -> bool:
    """A JSON body without a query string, a bearer token and a declared size within the limit: the other
    requests are refused by `RequestGuard` before their body is read, so this does not read it either."""
    headers = dict(scope.get("headers") or [])
    declared = headers.get(b"content-length", b"").decode("latin-1").strip()
    return (
        not scope.get("query_string")
        and _parsed_as_json(headers.get(b"content-type", b""))
        and headers.get(b"authorization", b"").lower().startswith(b"bearer ")
        and not (declared.isdigit() and int(declared) > limit)
    )


# Headers the front door reads. Given twice, `RequestGuard` would read the last and Starlette the first: only the
# full stack answers such a request as it always has.
_READ_HEADERS = (b"authorization", b"content-type", b"content-length")


def _headers_once(scope: dict[str, Any]) -> bool:
    names = [name for name, _ in scope.get("headers") or [] if name in _READ_HEADERS]
    return len(names) == len(set(names))


def _parsed_as_json(content_type: bytes) -> bool:
    """The bodies FastAPI reads as JSON: no content type, application/json or application/*+json (the stack
    answers any other type 422, so this leaves them to it)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media in (b"", b"application/json") or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def _refusal(exc: Exception) -> bool:
    """An error the full stack answers as a 4xx (the app's exception handlers), and so answers again."""
    if isinstance(exc, StatementError) and not isinstance(exc, DataError):
        return isinstance(exc.orig, OverflowError | ValueError)
    return isinstance(
        exc,
        NotPlain
        | HTTPException
        | StoreError
        | ValidationError
        | ValueError
        | RecursionError
        | OverflowError
        | DataError,
    )


async def _known_caller(request: Request) -> Principal | None:
    """The caller when known without a database read (auth off, the admin token, a cached token), else None; the
    401 of a missing token raised as the route would."""
    credentials = await bearer(request)
    who = configured_caller(request, credentials)
    if who is None and credentials is not None:
        who = cached_caller(request, token_hash(credentials.credentials))
    return who


async def answer(
    app: FastAPI, scope: dict[str, Any], receive: Receive, send: Send, handler: Handler
) -> Receive | None:
    """None when the request was answered; else the `receive` to hand to the full stack."""
    limit = body_limit("POST", scope["path"], API_PREFIX, 0)
    if not _worth_reading(scope, limit) or not _headers_once(scope):
        return receive
    body, messages = await _read(receive, limit)
    rest = replaying(messages, receive)
    if body is None or check_json(body) is not None:
        return rest
    scope["app"] = app
    request = Request(scope)
    try:
        who = await _known_caller(request)
        if who is None:
            return rest  # no token, or one to look up in the database: the full stack does both
        status, content, extra = await handler(request, who, body)
    except Exception as exc:
        if _refusal(exc):
            return rest  # the full stack answers it, as it would have
        raise
    await _respond(send, status, content, extra)
    return None


async def answer_read(app: FastAPI, scope: dict[str, Any], send: Send, handler: ReadHandler) -> bool:
    """A GET's `answer`: True when it was answered, False to leave it (untouched: it has no body) to the full
    stack. A read needs a caller only when the settings say so (`deps.require_read`)."""
    if check_query_and_path(scope, API_PREFIX) is not None or not _headers_once(scope):
        return False  # `RequestGuard` refuses the first; the second is left to it
    scope["app"] = app
    request = Request(scope)
    try:
        if app.state.settings.read_requires_auth and await _known_caller(request) is None:
            return False
        status, content, extra = await handler(request)
    except Exception as exc:
        if _refusal(exc):
            return False
        raise
    await _respond(send, status, content, extra)
    return True


async def _respond(send: Send, status: int, content: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-length", str(len(content)).encode()),
        (b"content-type", b"application/json"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})

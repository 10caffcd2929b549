"""Request limits enforced before FastAPI parses anything: body size per route (Content-Length and the bytes
actually streamed), and JSON that Python would accept but the service cannot store or answer with: NaN and
Infinity, lone surrogates, NUL characters, integers beyond 64 bits. Each refusal is a 413 or a 422 in FastAPI's
own shape, naming the field, so none of these inputs can reach the database or the error encoder as a 500.

The limits are listed in docs/reliability.md; change them there too."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

API_PREFIX = "/api/v1"
KiB, MiB = 1024, 1024 * 1024
INT64_MAX = 2**63 - 1
ID_MAX = 2**31 - 1  # id columns are INTEGER (32-bit on PostgreSQL)
# (method, path under the API prefix) -> largest body accepted, first match wins; the default covers the rest.
BODY_LIMITS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("POST", re.compile(r"^/runs/[^/]+/metrics$"), 4 * MiB),  # 10,000 points of ~100 bytes, with room
    ("POST", re.compile(r"^/runs/[^/]+/logs$"), 2 * MiB),  # a few full console chunks (LOG_CHUNK_CHARS)
    ("POST", re.compile(r"^/grids$"), 1 * MiB),
    ("POST", re.compile(r"^/runs$"), 256 * KiB),
    ("POST", re.compile(r"^/(experiments|views)$"), 64 * KiB),  # names, descriptions, view filters
    ("PATCH", re.compile(r"^/runs/[^/]+$"), 64 * KiB),  # tags and notes
)
DEFAULT_BODY_LIMIT = 256 * KiB
# Console logs: characters of one chunk and chunks per request (422 beyond); the total a run keeps is the
# setting XCL_MAX_LOG_BYTES_PER_RUN (default 16 MiB), past which the log is cut with a marker.
LOG_CHUNK_CHARS = 64 * KiB
LOG_CHUNKS_PER_REQUEST = 256
LOG_READ_LIMIT = 5_000  # chunks one GET returns at most
ECHO_MAX = 200  # characters of an offending value quoted back in an error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


UNAUTHORISED = "missing token: send 'Authorization: Bearer <token>'"


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


def too_large_detail(limit: int) -> str:
    return f"request body too large: this endpoint accepts at most {limit:,} bytes"


def _is_upload(method: str, path: str, prefix: str) -> bool:
    sub = path[len(prefix) :] if path.startswith(prefix) else path
    return method == "PUT" and re.match(r"^/runs/[^/]+/artifacts/", sub) is not None


def body_limit(method: str, path: str, prefix: str, artifact_limit: int) -> int:
    sub = path[len(prefix) :] if path.startswith(prefix) else path
    if _is_upload(method, path, prefix):
        return artifact_limit
    for m, pattern, limit in BODY_LIMITS:
        if m == method and pattern.match(sub):
            return limit
    return DEFAULT_BODY_LIMIT


def echo(value: Any) -> Any:
    """A value safe to put in a JSON error: finite, encodable, short."""
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if isinstance(value, bytes):  # a body FastAPI did not parse (not sent as JSON): quoted as text
        value = value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        value = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
        return value if len(value) <= ECHO_MAX else value[:ECHO_MAX] + "..."
    if isinstance(value, dict | list | tuple):
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        return f"<integer of {len(str(abs(value)))} digits>"
    return value


def _bad_string(value: str) -> str | None:
    if "\x00" in value:
        return "NUL characters (\\u0000) are not accepted in text"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "lone UTF-16 surrogates are not valid text; send well-formed UTF-8"
    return None


class _NonFinite:
    def __init__(self, text: str) -> None:
        self.text = text


class _Overflow(_NonFinite):
    """A number JSON allows but a 64-bit float cannot hold (1e309 parses as infinity)."""


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if value - value == 0.0 else _Overflow(text)  # inf - inf is nan


def _find_problem(value: Any, loc: list[str | int]) -> tuple[list[str | int], str, Any] | None:
    """The first value JSON allows but the service refuses, depth first, with its location."""
    stack: list[tuple[Any, list[str | int]]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _Overflow):
            return where, f"{item.text} is beyond a 64-bit float; send a finite value", item.text
        if isinstance(item, _NonFinite):
            return where, f"{item.text} is not a number JSON allows; send a finite value", item.text
        if isinstance(item, str):
            problem = _bad_string(item)
            if problem:
                return where, problem, item
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not -INT64_MAX - 1 <= item <= INT64_MAX:
                return where, "integers must fit in 64 bits (at most 9223372036854775807)", item
        elif isinstance(item, dict):
            for key in reversed(list(item)):
                problem = _bad_string(key)
                if problem:
                    return [*where, key], problem, key
                stack.append((item[key], [*where, key]))
        elif isinstance(item, list):
            stack.extend((item[i], [*where, i]) for i in reversed(range(len(item))))
    return None


_DIGITS_AS_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_BIG_EXPONENT = re.compile(rb"[0-9][eE]\+?0*[1-9][0-9]{2}")


def _maybe_refused(body: bytes) -> bool:
    """False when `_find_problem` cannot refuse the body, found by scanning its bytes (~20 times cheaper than
    walking the parsed document, which was most of a 1,000-point metric batch's cost). True only means "walk":
    NaN, Infinity and -Infinity; NUL and lone surrogates, which come only as \\u escapes (bytes that are not UTF-8
    do not parse) or as the zero bytes of a UTF-16/32 body; integers of 19 digits or more; exponents of three
    digits or more (a float past 1.8e308 parses as infinity)."""
    if b"NaN" in body or b"Infinity" in body or b"\x00" in body:
        return True
    if (b"e" in body or b"E" in body) and _BIG_EXPONENT.search(body):
        return True
    if b"\\u" in body and _ESCAPE.search(body):
        return True
    return b"9999999999999999999" in body.translate(_DIGITS_AS_NINES)


def check_json(body: bytes) -> dict[str, Any] | None:
    """A 422 error entry for a JSON body the service refuses, or None (also for JSON that does not parse:
    FastAPI reports that itself)."""
    if not _maybe_refused(body):
        return None
    try:
        parsed = json.loads(body, parse_constant=_NonFinite, parse_float=_float)
    except (ValueError, RecursionError):
        return None
    found = _find_problem(parsed, ["body"])
    if found is None:
        return None
    loc, msg, value = found
    return {"type": "value_error", "loc": loc, "msg": msg, "input": echo(value)}


def check_query_and_path(scope: Scope, prefix: str) -> dict[str, Any] | None:
    """Integers beyond 64 bits and NUL characters in the query string or an id segment of the path."""
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        problem = _bad_string(value) or _bad_string(name)
        if (
            problem is None
            and re.fullmatch(r"[+-]?\d{1,4300}", value.strip())
            and abs(int(value)) > INT64_MAX
        ):
            problem = "integers must fit in 64 bits (at most 9223372036854775807)"
        if problem:
            return {"type": "value_error", "loc": ["query", echo(name)], "msg": problem, "input": echo(value)}
    path: str = scope.get("path", "")
    if "\x00" in path:
        return {
            "type": "value_error",
            "loc": ["path"],
            "msg": "NUL characters are not accepted",
            "input": None,
        }
    parts = path[len(prefix) :].split("/") if path.startswith(prefix) else []
    # /{resource}/{id}/...: the id segment
    if len(parts) > 2 and re.fullmatch(r"[+-]?\d{1,4300}", parts[2]) and abs(int(parts[2])) > ID_MAX:
        return {
            "type": "value_error",
            "loc": ["path", parts[1]],
            "msg": f"ids are integers of at most {ID_MAX}",
            "input": echo(int(parts[2])),
        }
    return None


async def _send_json(send: Send, status: int, content: Any) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Pure ASGI middleware: size limits and the JSON checks above, before any route reads the request."""

    def __init__(
        self, app: ASGIApp, prefix: str, artifact_limit: int, token_for_writes: bool, token_for_reads: bool
    ) -> None:
        self.app, self.prefix, self.artifact_limit = app, prefix, artifact_limit
        self.token_for_writes, self.token_for_reads = token_for_writes, token_for_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = check_query_and_path(scope, self.prefix)
        if problem:
            await _send_json(send, 422, {"detail": [problem]})
            return
        method = scope["method"]
        limit = body_limit(method, scope["path"], self.prefix, self.artifact_limit)
        headers = dict(scope.get("headers") or [])
        # No token, no body read: the full check (which token, which role) is the route's, after this.
        reading = method in {"GET", "HEAD", "OPTIONS"}
        if (
            scope["path"].startswith(self.prefix)
            and (self.token_for_reads if reading else self.token_for_writes)
            and not headers.get(b"authorization", b"").lower().startswith(b"bearer ")
            and not scope["path"].endswith("/health")
            and not scope["path"].endswith("/openapi.json")
        ):
            await _send_json(send, 401, {"detail": UNAUTHORISED})
            return
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, {"detail": too_large_detail(limit)})
            return
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        # FastAPI parses a body without a content type as JSON too.
        # An artifact upload is raw bytes of any type, streamed to disk: never buffered here.
        json_body = "json" in content_type or not content_type
        if (
            method in {"POST", "PUT", "PATCH"}
            and json_body
            and not _is_upload(method, scope["path"], self.prefix)
        ):
            body, more, chunks = 0, True, []
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                body += len(chunk)
                if body > limit:
                    await _send_json(send, 413, {"detail": too_large_detail(limit)})
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            raw = b"".join(chunks)
            problem = check_json(raw)
            if problem:
                await _send_json(send, 422, {"detail": [problem]})
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": raw, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

"""`GET /api/v1/runs` at the front door (`backend.fast_path`): a runs page, the tracking search that scripts and
the dashboard's runs table send most.

Only a plain query is answered here: known parameters, each single-valued one given once, ids and the limit as
plain digits within their bounds, a search within its length. Anything else (a parameter FastAPI would read some
other way, a value it would refuse or coerce) goes to the full stack, which answers as it always has; so does a
refusal from the store (a bad sort or page token), which the full stack then reports the same way.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request

from backend.fast_path import Answer, NotPlain
from backend.limits import API_PREFIX
from backend.routes.run_query import DEFAULT_LIMIT, DEFAULT_SORT, LIMIT_MAX
from backend.routes.runs import runs_page
from backend.store.run_list import MAX_SEARCH_CHARS, RunFilter

PATH = f"{API_PREFIX}/runs"
_REPEATED = {"status", "task", "method", "tag", "param", "field"}
_ONCE = {"experiment_id", "search", "sort", "limit", "page_token"}
_DIGITS = re.compile(r"[0-9]{1,18}")  # what the route's int reads without coercion, within 64 bits


def _number(text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise NotPlain
    return int(text)


def parse(query_string: bytes) -> tuple[RunFilter, str, int, str | None]:
    """The route's filter, sort, limit and page token from a plain query (parsed as Starlette parses it for
    FastAPI); `NotPlain` for any other."""
    params = QueryParams(query_string)
    names = set(params.keys())
    if not names <= _REPEATED | _ONCE or any(len(params.getlist(name)) > 1 for name in names & _ONCE):
        raise NotPlain
    experiment = params.get("experiment_id")
    limit = _number(params.get("limit", str(DEFAULT_LIMIT)))
    search = params.get("search", "")
    if not 1 <= limit <= LIMIT_MAX or len(search) > MAX_SEARCH_CHARS:
        raise NotPlain
    flt = RunFilter(
        experiment_id=None if experiment is None else _number(experiment),
        status=params.getlist("status"),
        task=params.getlist("task"),
        method=params.getlist("method"),
        tags=params.getlist("tag"),
        params=params.getlist("param"),
        fields=params.getlist("field"),
        search=search,
    )
    return flt, params.get("sort", DEFAULT_SORT), limit, params.get("page_token")


async def read(request: Request) -> Answer:
    flt, sort, limit, page_token = parse(request.scope.get("query_string", b""))
    factory = request.app.state.read_session_factory
    return 200, await run_in_threadpool(runs_page, factory, flt, sort, limit, page_token), []

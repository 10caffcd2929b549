"""`POST /api/v1/runs/{id}/metrics` at the front door (`backend.fast_path`): the plain write of a batch of points."""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from backend.deps import Principal
from backend.fast_path import Answer, NotPlain
from backend.limits import API_PREFIX, ID_MAX
from backend.routes.metrics import write_points
from backend.schemas.metrics import MetricsIn

PATH = re.compile(rf"^{API_PREFIX}/runs/([0-9]{{1,10}})/metrics$")


def run_id_of(path: str) -> int | None:
    match = PATH.match(path)
    return int(match[1]) if match is not None and int(match[1]) <= ID_MAX else None


async def write(request: Request, who: Principal, payload: Any) -> Answer:
    run_id = run_id_of(request.scope["path"])
    if run_id is None:  # `live._front_door` sent only paths with an id
        raise NotPlain
    points = MetricsIn.model_validate(payload).metrics
    written = await run_in_threadpool(write_points, request.app.state.engine, who, run_id, points)
    return 200, f'{{"written":{written}}}'.encode(), []

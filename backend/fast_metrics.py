"""`POST /api/v1/runs/{id}/metrics` at the front door (`backend.fast_path`): the plain write of a batch of points."""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from backend.deps import Principal, refuse_reporter, reporter_rule
from backend.fast_path import Answer, NotPlain
from backend.limits import API_PREFIX, ID_MAX
from backend.routes.metrics import write_points
from backend.schemas.metrics import MetricsIn
from backend.store.loop_writer import LoopWriter, WriteUnavailable

PATH = re.compile(rf"^{API_PREFIX}/runs/([0-9]{{1,10}})/metrics$")


def run_id_of(path: str) -> int | None:
    match = PATH.match(path)
    return int(match[1]) if match is not None and int(match[1]) <= ID_MAX else None


async def write(request: Request, who: Principal, body: bytes) -> Answer:
    run_id = run_id_of(request.scope["path"])
    if run_id is None:  # `live._front_door` sent only paths with an id
        raise NotPlain
    points = MetricsIn.model_validate_json(body).metrics
    writer: LoopWriter | None = getattr(request.app.state, "loop_writer", None)
    if writer is None or not writer.on_this_loop() or not writer.takes(points):
        written = await run_in_threadpool(write_points, request.app.state.engine, who, run_id, points)
    else:
        try:
            written = await writer.write_points(
                run_id, points, reporter_rule(who), lambda: refuse_reporter(who, run_id)
            )
        except WriteUnavailable as exc:
            raise NotPlain from exc
    return 200, f'{{"written":{written}}}'.encode(), []

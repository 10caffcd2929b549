"""`POST /api/v1/runs` at the front door (`backend.fast_path`): a tracking run started by a training script.
A training run (with a spec) and a worker's token (refused) go to the full stack."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from backend.deps import Principal
from backend.fast_path import Answer, NotPlain
from backend.limits import API_PREFIX
from backend.routes.run_out import new_tracking_run_out
from backend.routes.runs import create_tracking_run
from backend.schemas.runs import RunCreate
from backend.store.loop_writer import PostgresLoopWriter, WriteUnavailable

PATH = f"{API_PREFIX}/runs"


async def create(request: Request, who: Principal, body: bytes) -> Answer:
    payload: Any = json.loads(body)
    if who.role == "worker" or not isinstance(payload, dict) or payload.get("spec") is not None:
        raise NotPlain
    run = RunCreate.model_validate(payload)
    writer = getattr(request.app.state, "loop_writer", None)
    if isinstance(writer, PostgresLoopWriter) and writer.on_this_loop():
        try:
            row, params = await writer.create_tracking_run(run.experiment_id, run.name, run.params)
        except WriteUnavailable as exc:
            raise NotPlain from exc  # nothing was stored: the full stack creates it, or refuses as it does
        out = new_tracking_run_out(row, params)
    else:
        out = await run_in_threadpool(create_tracking_run, request.app.state.engine, run)
    try:
        location = str(request.url_for("read_run", run_id=out.id)).encode()
        return 202, out.model_dump_json().encode(), [(b"location", location)]
    except Exception as exc:
        # The run is committed: nothing from here on may send the request to the full stack, which would create
        # a second run.
        raise RuntimeError(f"run {out.id} was created but its answer could not be written") from exc

"""Metric points: written in batches, read back as keys and histories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from backend.deps import (
    Caller,
    Principal,
    ReadAuth,
    ReadSessionDep,
    refuse_reporter,
    reporter_rule,
)
from backend.schemas.metrics import MetricHistory, MetricKeys, MetricsIn, MetricsWritten
from backend.store import metrics as metric_store

router = APIRouter(prefix="/runs/{run_id}/metrics", tags=["metrics"])


def write_points(
    engine: Engine, who: Principal, run_id: int, points: Sequence[metric_store.PointLike]
) -> int:
    """The holder check, the upserts and the commit, in one thread-pool trip (one statement on PostgreSQL)."""
    return metric_store.write_points(
        engine, run_id, points, reporter_rule(who), lambda: refuse_reporter(who, run_id)
    )


@router.post("", response_model=MetricsWritten)
async def log_metrics(run_id: int, body: MetricsIn, who: Caller, request: Request) -> Response:
    """Write a batch of points; idempotent: a (key, step) written again is stored once (last value wins).
    Admin; the worker holding the run; a user when no worker holds it."""
    # The hot path of tracking: the holder check, the upserts and the commit run in one thread-pool trip and one
    # transaction (a dependency per step was a trip each), and the answer is written without a model.
    written = await run_in_threadpool(write_points, request.app.state.engine, who, run_id, body.metrics)
    return Response(f'{{"written":{written}}}', media_type="application/json")


@router.get("", dependencies=[ReadAuth])
def read_metric_keys(run_id: int, session: ReadSessionDep) -> MetricKeys:
    """The metric keys this run has logged."""
    return MetricKeys(keys=metric_store.metric_keys(session, run_id))


@router.get("/{key:path}", dependencies=[ReadAuth], response_model=MetricHistory)
def read_metric_history(
    run_id: int,
    key: str,
    session: ReadSessionDep,
    max_points: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    wall_time: Annotated[
        bool, Query(description="Also each point's wall_time (Unix seconds when it was logged).")
    ] = False,
) -> Response:
    """A metric's history by step; max_points downsamples evenly, keeping the first and last points."""
    points = metric_store.metric_history(session, run_id, key, max_points, wall_time)
    # JSON written directly: validating a model, or json.dumps of a dict, per point would dominate the time of
    # a long history. Values are finite floats (MetricIn refuses inf and nan), so repr is valid JSON.
    if wall_time:
        body = ",".join(
            [
                f'{{"step":{int(p[0])},"value":{float(p[1])!r},"wall_time":{_json_float(p[2])}}}'
                for p in points
            ]
        )
    else:
        body = ",".join([f'{{"step":{int(s)},"value":{float(v)!r}}}' for s, v in points])
    return Response(
        f'{{"run_id":{run_id},"key":{json.dumps(key)},"points":[{body}]}}', media_type="application/json"
    )


def _json_float(value: float | None) -> str:
    return "null" if value is None else repr(float(value))

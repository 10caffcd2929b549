from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.deps import HolderAuth, ReadAuth, ReadSessionDep, SessionDep, SettingsDep
from backend.limits import LOG_READ_LIMIT
from backend.schemas.logs import LogChunkOut, LogPage, LogsIn, LogsWritten
from backend.store import logs as log_store

router = APIRouter(prefix="/runs/{run_id}/logs", tags=["logs"])


@router.post("", dependencies=[HolderAuth])
def append_logs(run_id: int, body: LogsIn, session: SessionDep, settings: SettingsDep) -> LogsWritten:
    """Append console chunks (the worker holding the run, or admin). Idempotent: a chunk whose seq is stored
    already is skipped. The run keeps XCL_MAX_LOG_BYTES_PER_RUN bytes; the chunk crossing it is cut with a
    marker and `truncated` turns true. A finished run is final (409)."""
    chunks = [log_store.LogChunk(c.seq, c.stream, c.text, c.wall_time) for c in body.chunks]
    written, truncated = log_store.append_logs(session, run_id, chunks, settings.max_log_bytes_per_run)
    return LogsWritten(written=written, truncated=truncated)


@router.get("", dependencies=[ReadAuth])
def read_logs(
    run_id: int,
    session: ReadSessionDep,
    settings: SettingsDep,
    after_seq: Annotated[int, Query(ge=-1, description="Chunks after this seq (-1: from the start).")] = -1,
    limit: Annotated[int, Query(ge=1, le=LOG_READ_LIMIT)] = 1_000,
    tail: Annotated[
        bool, Query(description="The last `limit` chunks after after_seq, not the first.")
    ] = False,
) -> LogPage:
    """A page of the run's console in seq order, with the cursor for the next read (poll it to follow a run)."""
    page = log_store.read_logs(session, run_id, after_seq, limit, tail)
    chunks = [
        LogChunkOut(seq=r.seq, stream=r.stream, text=r.text, wall_time=r.wall_time) for r in page.chunks
    ]
    return LogPage(
        run_id=run_id,
        chunks=chunks,
        next_after_seq=chunks[-1].seq if chunks else after_seq,
        total_bytes=page.total_bytes,
        truncated=page.total_bytes > settings.max_log_bytes_per_run,
    )

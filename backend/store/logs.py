"""Run logs: the worker's console in numbered chunks, unique per (run, seq), cut at a per-run size limit."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend.models import RunLog
from backend.store.lifecycle import require_open_run
from backend.store.runs import require_run

# A chunk another request stored meanwhile is skipped, not an error: on SQLite (no row lock) two overlapping
# retries of one batch both find a seq missing, and the second insert must not fail the request.
_INSERT_CHUNK = text(
    "INSERT INTO run_log (run_id, seq, stream, text, size, wall_time) "
    "VALUES (:run_id, :seq, :stream, :text, :size, :wall_time) ON CONFLICT (run_id, seq) DO NOTHING"
)
TRUNCATED_MARKER = "\n[log truncated: this run's console reached its limit of {limit:,} bytes]\n"


@dataclass(frozen=True)
class LogChunk:
    seq: int
    stream: str
    text: str
    wall_time: float | None = None


def _total(session: Session, run_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(RunLog.size), 0)).where(RunLog.run_id == run_id)))


def append_logs(
    session: Session, run_id: int, chunks: Iterable[LogChunk], max_bytes: int
) -> tuple[int, bool]:
    """Store the chunks not stored yet (a retried request writes nothing twice), in seq order, until the run's
    log holds `max_bytes`: the chunk crossing it is cut and ends with a marker, later ones are dropped.
    Returns (chunks stored, whether the log is truncated). A finished run is final (409)."""
    require_open_run(session, run_id)  # locks the run's row: concurrent appends are serialised
    by_seq = {c.seq: c for c in chunks}
    if by_seq:
        stored = set(
            session.scalars(select(RunLog.seq).where(RunLog.run_id == run_id, RunLog.seq.in_(list(by_seq))))
        )
    else:
        stored = set()
    total = _total(session, run_id)
    now = time.time()
    rows: list[dict[str, object]] = []
    for seq in sorted(by_seq.keys() - stored):
        if total > max_bytes:  # cut already: nothing more is kept
            break
        chunk = by_seq[seq]
        body = chunk.text
        size = len(body.encode("utf-8"))
        if total + size > max_bytes:
            kept = body.encode("utf-8")[: max_bytes - total].decode("utf-8", "ignore")
            body = kept + TRUNCATED_MARKER.format(limit=max_bytes)
            size = max_bytes - total + len(body.encode("utf-8")) - len(kept.encode("utf-8"))
        rows.append(
            {
                "run_id": run_id,
                "seq": seq,
                "stream": chunk.stream,
                "text": body,
                "size": size,
                "wall_time": chunk.wall_time or now,
            }
        )
        total += size
    written = 0
    if rows:
        result = session.execute(_INSERT_CHUNK, rows)
        written = result.rowcount if result.rowcount >= 0 else len(rows)  # -1: the driver did not count
    return written, total > max_bytes


@dataclass(frozen=True)
class LogPage:
    chunks: list[RunLog]
    total_bytes: int


def read_logs(session: Session, run_id: int, after_seq: int, limit: int, tail: bool) -> LogPage:
    """Chunks with seq > after_seq in order: the first `limit` of them, or with `tail` the last `limit`."""
    require_run(session, run_id)
    query = select(RunLog).where(RunLog.run_id == run_id, RunLog.seq > after_seq)
    if tail:
        rows = list(session.scalars(query.order_by(RunLog.seq.desc()).limit(limit)))[::-1]
    else:
        rows = list(session.scalars(query.order_by(RunLog.seq).limit(limit)))
    return LogPage(rows, _total(session, run_id))

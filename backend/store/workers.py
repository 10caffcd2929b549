"""The worker inventory: upserts from worker heartbeats, the fleet listing, and whether any worker could ever
hold a run's resources."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Worker, utcnow
from backend.schemas.workers import WorkerReport

# A worker known within this window counts for placement: GPU nodes may be down for a night without every GPU
# run being refused, but a node retired last month does not keep accepting work for itself.
PLACEMENT_WINDOW = timedelta(days=1)


def report(session: Session, name: str, body: WorkerReport) -> Worker:
    worker = session.get(Worker, name)
    fields: dict[str, Any] = body.model_dump(mode="json")
    if worker is None:
        worker = Worker(name=name, **fields)
        session.add(worker)
    else:
        for key, value in fields.items():
            setattr(worker, key, value)
    worker.last_seen = utcnow()
    session.flush()
    return worker


def list_workers(session: Session) -> list[Worker]:
    return list(session.scalars(select(Worker).order_by(Worker.host, Worker.name)))


def is_stale(worker: Worker, stale_after_s: float) -> bool:
    return worker.state != "online" or (utcnow() - worker.last_seen).total_seconds() > stale_after_s


def fits(worker: Worker, queue: str, gpus: int, gpu_kind: str | None, min_memory_mb: int | None) -> bool:
    """Whether this worker could ever hold a run: it consumes the queue and has enough matching GPUs. A multi-GPU
    run trains in one pool process, which sees all the node's GPUs only on a worker of one slot
    (`--concurrency 1`), and its ranks use the first `gpus` of them: those must match."""
    if queue not in worker.queues:
        return False
    if gpus == 0:
        return True

    def matches(g: dict[str, Any]) -> bool:
        return (gpu_kind is None or gpu_kind.lower() in g["name"].lower()) and (
            min_memory_mb is None or g["memory_mb"] >= min_memory_mb
        )

    if gpus > 1:
        return worker.slots == 1 and len(worker.gpus) >= gpus and all(map(matches, worker.gpus[:gpus]))
    return any(map(matches, worker.gpus))


def placement_problem(
    session: Session, queue: str, gpus: int, gpu_kind: str | None, min_memory_mb: int | None
) -> str | None:
    """Why no known worker can hold a GPU run (None when one can). CPU runs are never refused: any worker
    started later can take them."""
    if gpus == 0:
        return None
    since = utcnow() - PLACEMENT_WINDOW
    known = list(session.scalars(select(Worker).where(Worker.last_seen >= since)))
    if any(fits(w, queue, gpus, gpu_kind, min_memory_mb) for w in known):
        return None
    want = f"{gpus} GPU(s)"
    if gpu_kind:
        want += f" of kind '{gpu_kind}'"
    if min_memory_mb:
        want += f" with at least {min_memory_mb / 1024:g} GiB"
    have = sorted(
        {f"{w.name}: {len(w.gpus)} GPU(s), {w.slots} slot(s) on queues {','.join(w.queues)}" for w in known}
    ) or ["none"]
    start = f"xclab worker --queues {queue}" + (" --concurrency 1" if gpus > 1 else "")
    return (
        f"no worker seen in the last day can hold {want} on queue '{queue}' (workers: {'; '.join(have)}); "
        f"start one with `{start}` on a node with such GPUs, or lower resources.gpus"
        + (
            " (a multi-GPU run needs a worker of one slot, whose pool process sees all its GPUs)"
            if gpus > 1
            else ""
        )
    )

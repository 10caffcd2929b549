"""Artifact records (path, kind, sha256, size) of a run; the bytes live under the artifact root."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models import Artifact, utcnow
from backend.store.lifecycle import require_open_run
from xclab.artifact_names import RESUME_KIND


def record_artifact(
    session: Session, run_id: int, path: str, kind: str, sha256: str, size: int, attempt: int | None = None
) -> Artifact:
    """Record an uploaded file; uploading the same path again replaces the record (how a running run's worker
    refreshes its resume checkpoint). A finished run is final. With `attempt`, a worker whose attempt was given up
    (its run re-queued) can no longer replace what the next attempt uploads."""
    require_open_run(session, run_id, attempt)
    artifact = session.scalars(
        select(Artifact).where(Artifact.run_id == run_id, Artifact.path == path)
    ).first()
    if artifact is None:
        artifact = Artifact(run_id=run_id, path=path)
        session.add(artifact)
    artifact.kind, artifact.sha256, artifact.size, artifact.created_at = kind, sha256, size, utcnow()
    session.flush()
    return artifact


def get_artifact(session: Session, run_id: int, path: str) -> Artifact:
    artifact = session.scalars(
        select(Artifact).where(Artifact.run_id == run_id, Artifact.path == path)
    ).first()
    if artifact is None:
        raise NotFound(f"run {run_id} has no artifact '{path}'")
    return artifact


def drop_resume_checkpoints(session: Session, run_id: int) -> list[str]:
    """A succeeded run's resume checkpoints (2-3x its model's size): no attempt will resume it, so their records go
    with its finish; returns their paths, for the route to remove the files once this is committed."""
    rows = list(
        session.scalars(select(Artifact).where(Artifact.run_id == run_id, Artifact.kind == RESUME_KIND))
    )
    for row in rows:
        session.delete(row)
    session.flush()
    return [row.path for row in rows]

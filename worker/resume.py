"""Checkpoints that travel through the API, never through a shared path: a run's resumable checkpoint is uploaded
as an artifact whenever the trainer saves one, and a run that starts on a node without it downloads it (streamed,
sha256 verified) before training; teachers' and generators' finished models are fetched the same way, cached per
node under the worker's cache folder.

A resume download that fails its sha256 check is thrown away and the run trains from its local checkpoint, or from
epoch 0 when it has none (a log line and the run's environment say so): training again is slower but gives the same
numbers, while refusing would fail a run that can still finish."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from xclab.artifact_names import RESUME_ARTIFACT, RESUME_KIND
from xclab.client import ApiClient, ApiError

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class CorruptDownload(RuntimeError):
    """A downloaded artifact does not match the sha256 the API recorded for it."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download_verified(client: ApiClient, run_id: int, path: str, sha256: str, target: Path) -> Path:
    """Stream artifact `path` of run `run_id` into `target`, renamed into place only once its sha256 matches.
    The download file is this process's own: pool processes fetching the same file at once each write their own
    and rename it into place (the same bytes), instead of one renaming the file another is writing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        client.download_artifact(run_id, path, tmp)
        digest = file_sha256(tmp)
        if digest != sha256:
            raise CorruptDownload(
                f"artifact '{path}' of run {run_id} is corrupt (sha256 {digest[:12]} != {sha256[:12]})"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def fetch_checkpoint(client: ApiClient, run_id: int, cache_dir: Path) -> Path:
    """A finished run's model.pt in this node's cache (verified by sha256), downloaded once per node: the file
    is named by its sha256, so a cached copy is never stale."""
    run = client.get_run(run_id)
    if run["status"] != "succeeded":
        raise RuntimeError(f"run {run_id} is {run['status']}; its checkpoint is needed once it has succeeded")
    artifact = next((a for a in run["artifacts"] if a["path"] == "model.pt"), None)
    if artifact is None:
        raise RuntimeError(f"run {run_id} succeeded but has no model.pt artifact")
    target = cache_dir / "runs" / str(run_id) / f"model-{artifact['sha256'][:16]}.pt"
    if not target.exists():
        download_verified(client, run_id, "model.pt", artifact["sha256"], target)
    return target


def restore_checkpoint(client: ApiClient, run: dict[str, Any], local: Path) -> dict[str, Any]:
    """Make `local` the run's last uploaded resume checkpoint unless it already is; returns where the checkpoint
    the trainer will read comes from ("upload", "local" or "none", plus why when a download was refused).
    Whether it belongs to this spec is the trainer's check (checkpoint.resume)."""
    uploaded = next((a for a in run.get("artifacts", []) if a["path"] == RESUME_ARTIFACT), None)
    has_local = local.is_file()
    if uploaded is None:
        return {"source": "local" if has_local else "none"}
    if has_local and file_sha256(local) == uploaded["sha256"]:
        return {"source": "local"}
    # The upload is what the run's latest attempt reached, on any node; a local file wins only when it is further
    # along (this node's last epochs were never uploaded: the final checkpoint is not, or an upload failed).
    fetched = local.with_name(f"uploaded-{local.name}")
    try:
        download_verified(client, run["id"], RESUME_ARTIFACT, uploaded["sha256"], fetched)
    except (CorruptDownload, ApiError) as exc:
        fallback = "its local checkpoint" if has_local else "epoch 0"
        log.warning(
            "run %s: uploaded resume checkpoint refused (%s); training from %s", run["id"], exc, fallback
        )
        return {"source": "local" if has_local else "none", "refused_upload": str(exc)[:300]}
    if has_local and checkpoint_epoch(local) > checkpoint_epoch(fetched):
        fetched.unlink()
        log.info(
            "run %s: its local checkpoint is further along than the uploaded one; resuming from it", run["id"]
        )
        return {"source": "local"}
    fetched.replace(local)
    log.info("run %s: resuming from its uploaded checkpoint (%s bytes)", run["id"], uploaded["size"])
    return {"source": "upload"}


def checkpoint_epoch(path: Path) -> int:
    """The epochs a resumable checkpoint holds; -1 when it cannot be read (the trainer then ignores it too)."""
    from worker.training.safe_load import load_checkpoint  # torch: only in the process that trains

    try:
        return int(load_checkpoint(path, "cpu").get("epoch", -1))
    except Exception:  # any unreadable file: not further along than anything
        return -1


def upload_checkpoint(client: ApiClient, run_id: int, attempt: int | None, path: Path) -> bool:
    """Upload the trainer's resumable checkpoint (replacing the previous one). A failure is logged, not raised:
    the run goes on, and the local copy still resumes it on this node."""
    try:
        client.upload_artifact(run_id, RESUME_ARTIFACT, path, kind=RESUME_KIND, attempt=attempt)
    except ApiError as exc:
        log.warning("run %s: resume checkpoint not uploaded: %s", run_id, exc)
        return False
    return True

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from backend.artifact_files import exclusive_writer, file_sha256, run_folder, safe_relative_path, write_temp
from backend.deps import ArtifactWriterAuth, ReadAuth, ReadSessionDep, SettingsDep, UnitOfWorkDep
from backend.errors import Conflict, NotFound
from backend.models import Artifact
from backend.schemas.runs import ArtifactOut
from backend.store import artifacts as artifact_store
from backend.store.lifecycle import require_open_run
from backend.store.runs import get_run

router = APIRouter(prefix="/runs/{run_id}/artifacts", tags=["artifacts"])

CONFLICTS = {
    409: {
        "description": "The run is final, another upload to this path is in progress, or the run is at another attempt."
    }
}


def _path_clash(path: str) -> Conflict:
    return Conflict(
        f"artifact path '{path}' clashes with an existing artifact (a file where a folder is needed)"
    )


@router.put("/{path:path}", dependencies=[ArtifactWriterAuth], responses=CONFLICTS)
async def upload_artifact(
    run_id: int,
    path: str,
    request: Request,
    uow: UnitOfWorkDep,
    settings: SettingsDep,
    kind: Annotated[str, Query(pattern=r"^[a-z0-9_-]{1,32}$")] = "file",
    attempt: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> ArtifactOut:
    """Upload a file as the raw request body (checkpoints, plots, tables); sha256 and size are recorded. The same
    path may be uploaded again while the run is open (a worker's resume checkpoint), never once it is final.
    409 when the run is final, another upload to the same path is under way, or (with `attempt`) the run has
    moved on to another attempt."""
    rel = safe_relative_path(path)

    def check_open() -> None:
        require_open_run(uow.session, run_id, attempt)
        uow.checkpoint()  # no transaction (nor row lock) stays open while the body streams in

    def record(tmp: Path, sha256: str, size: int) -> Artifact:
        try:
            # Checked again under the row lock: the run may have finished while the body streamed in.
            artifact = artifact_store.record_artifact(
                uow.session, run_id, str(rel), kind, sha256, size, attempt
            )
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        uow.checkpoint()
        return artifact

    # Database work goes to the thread pool, never on the event loop: a write waiting there for SQLite's lock (or
    # a PostgreSQL row lock) would stall the loop, and with it the commit of the request that holds the lock.
    await run_in_threadpool(check_open)
    target = run_folder(settings.resolved_artifact_root, run_id) / rel
    try:
        with exclusive_writer(target, str(rel)):
            tmp, sha256, size = await write_temp(target, request.stream())
            artifact = await run_in_threadpool(record, tmp, sha256, size)
    except (NotADirectoryError, IsADirectoryError, FileExistsError):
        raise _path_clash(str(rel)) from None
    out = ArtifactOut.model_validate(artifact)
    out.url = str(request.url_for("download_artifact", run_id=run_id, path=str(rel)))
    return out


@router.get(
    "/{path:path}",
    dependencies=[ReadAuth],
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The artifact's bytes."},
        409: {"description": "The stored file no longer matches its recorded sha256."},
    },
)
def download_artifact(run_id: int, path: str, session: ReadSessionDep, settings: SettingsDep) -> FileResponse:
    """Download an artifact's bytes; the file is checked against its recorded sha256 first (X-Content-SHA256)."""
    rel = safe_relative_path(path)
    get_run(session, run_id)
    artifact = artifact_store.get_artifact(session, run_id, str(rel))
    file = run_folder(settings.resolved_artifact_root, run_id) / rel
    if not file.is_file():
        raise NotFound(
            f"artifact '{path}' of run {run_id} is recorded but its file is missing under the artifact root"
        )
    if file_sha256(file) != artifact.sha256:
        raise Conflict(
            f"artifact '{path}' of run {run_id} does not match its recorded sha256 (damaged on disk); upload it again"
        )
    return FileResponse(file, filename=file.name, headers={"X-Content-SHA256": artifact.sha256})

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from backend.artifact_files import run_folder, safe_relative_path, write_stream
from backend.deps import ReadAuth, SessionDep, SettingsDep, WriteAuth
from backend.errors import NotFound
from backend.schemas.runs import ArtifactOut
from backend.store import artifacts as artifact_store
from backend.store.runs import get_run

router = APIRouter(prefix="/runs/{run_id}/artifacts", tags=["artifacts"])


@router.put("/{path:path}", dependencies=[WriteAuth])
async def upload_artifact(
    run_id: int,
    path: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    kind: Annotated[str, Query(pattern=r"^[a-z0-9_-]{1,32}$")] = "file",
) -> ArtifactOut:
    """Upload a file as the raw request body (checkpoints, plots, tables); sha256 and size are recorded."""
    rel = safe_relative_path(path)
    get_run(session, run_id)
    target = run_folder(settings.resolved_artifact_root, run_id) / rel
    sha256, size = await write_stream(target, request.stream())
    artifact = artifact_store.record_artifact(session, run_id, str(rel), kind, sha256, size)
    out = ArtifactOut.model_validate(artifact)
    out.url = str(request.url_for("download_artifact", run_id=run_id, path=str(rel)))
    return out


@router.get(
    "/{path:path}",
    dependencies=[ReadAuth],
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The artifact's bytes."}},
)
def download_artifact(run_id: int, path: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """Download an artifact's bytes."""
    rel = safe_relative_path(path)
    artifact = artifact_store.get_artifact(session, run_id, str(rel))
    file = run_folder(settings.resolved_artifact_root, run_id) / rel
    if not file.exists():
        raise NotFound(
            f"artifact '{path}' of run {run_id} is recorded but its file is missing under the artifact root"
        )
    return FileResponse(file, filename=file.name, headers={"X-Content-SHA256": artifact.sha256})

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from backend import store
from backend.artifacts import run_folder, safe_relative_path, write_stream
from backend.deps import ReadAuth, SessionDep, SettingsDep, WriteAuth
from backend.errors import NotFound
from backend.schemas import ArtifactOut

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
    store.get_run(session, run_id)
    target = run_folder(settings.resolved_artifact_root, run_id) / rel
    sha256, size = await write_stream(target, request.stream())
    artifact = store.record_artifact(session, run_id, str(rel), kind, sha256, size)
    session.commit()
    out = ArtifactOut.model_validate(artifact)
    out.url = str(request.url_for("download_artifact", run_id=run_id, path=str(rel)))
    return out


@router.get("/{path:path}", dependencies=[ReadAuth])
def download_artifact(run_id: int, path: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """Download an artifact's bytes."""
    rel = safe_relative_path(path)
    artifact = store.get_artifact(session, run_id, str(rel))
    file = run_folder(settings.resolved_artifact_root, run_id) / rel
    if not file.exists():
        raise NotFound(
            f"artifact '{path}' of run {run_id} is recorded but its file is missing under the artifact root"
        )
    return FileResponse(file, filename=file.name, headers={"X-Content-SHA256": artifact.sha256})

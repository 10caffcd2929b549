"""Resume checkpoints through the API: a run starting on a node downloads its last uploaded checkpoint (streamed,
sha256 verified), keeps an identical local one without downloading, and refuses a corrupt download, training from
its local checkpoint or epoch 0 instead. Uploads that fail are logged, never fatal."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from worker.resume import (
    CorruptDownload,
    download_verified,
    restore_checkpoint,
    upload_checkpoint,
)
from xclab.artifact_names import RESUME_ARTIFACT
from xclab.client import ApiError

UPLOADED = b"uploaded-checkpoint" * 1000


class ArtifactClient:
    """The artifact calls the resume path makes, answered as the API would; `served` is what a download
    delivers (the recorded sha256 is always UPLOADED's, so other bytes are a corrupted transfer)."""

    def __init__(self, served: bytes = UPLOADED, upload_error: ApiError | None = None) -> None:
        self.served, self.upload_error = served, upload_error
        self.downloads: list[str] = []
        self.uploads: list[tuple[str, str, int | None]] = []

    def download_artifact(self, run_id: int, path: str, target: Path) -> Path:
        self.downloads.append(path)
        target.write_bytes(self.served)
        return target

    def upload_artifact(
        self, run_id: int, path: str, file: Path, kind: str = "file", attempt: int | None = None
    ):
        if self.upload_error:
            raise self.upload_error
        self.uploads.append((path, kind, attempt))
        return {}


def _run(with_upload: bool = True) -> dict[str, Any]:
    sha = hashlib.sha256(UPLOADED).hexdigest()
    artifacts = [{"path": RESUME_ARTIFACT, "sha256": sha, "size": len(UPLOADED)}] if with_upload else []
    return {"id": 4, "attempt": 2, "artifacts": artifacts}


def test_an_uploaded_checkpoint_is_downloaded_when_the_node_has_none(tmp_path: Path) -> None:
    client, local = ArtifactClient(), tmp_path / "work" / "checkpoint.pt"
    assert restore_checkpoint(client, _run(), local) == {"source": "upload"}  # type: ignore[arg-type]
    assert local.read_bytes() == UPLOADED and client.downloads == [RESUME_ARTIFACT]
    assert [p.name for p in local.parent.iterdir()] == ["checkpoint.pt"]  # no download file left


def test_an_identical_local_checkpoint_is_not_downloaded_again(tmp_path: Path) -> None:
    client, local = ArtifactClient(), tmp_path / "checkpoint.pt"
    local.write_bytes(UPLOADED)
    assert restore_checkpoint(client, _run(), local) == {"source": "local"}  # type: ignore[arg-type]
    assert client.downloads == []


def test_the_upload_wins_over_a_different_local_checkpoint(tmp_path: Path) -> None:
    client, local = ArtifactClient(), tmp_path / "checkpoint.pt"
    local.write_bytes(b"older attempt on this node")
    assert restore_checkpoint(client, _run(), local)["source"] == "upload"  # type: ignore[arg-type]
    assert local.read_bytes() == UPLOADED


def test_without_an_upload_the_local_checkpoint_or_nothing_is_used(tmp_path: Path) -> None:
    client, local = ArtifactClient(), tmp_path / "checkpoint.pt"
    assert restore_checkpoint(client, _run(False), local) == {"source": "none"}  # type: ignore[arg-type]
    local.write_bytes(b"local")
    assert restore_checkpoint(client, _run(False), local) == {"source": "local"}  # type: ignore[arg-type]
    assert client.downloads == []


def test_a_corrupt_download_is_refused_and_never_put_in_place(tmp_path: Path) -> None:
    client, target = ArtifactClient(served=b"flipped bits"), tmp_path / "checkpoint.pt"
    with pytest.raises(CorruptDownload, match="corrupt"):
        download_verified(client, 4, RESUME_ARTIFACT, hashlib.sha256(UPLOADED).hexdigest(), target)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("has_local", [False, True])
def test_a_corrupt_upload_falls_back_to_local_or_epoch_0(tmp_path: Path, has_local: bool) -> None:
    client, local = ArtifactClient(served=b"flipped bits"), tmp_path / "checkpoint.pt"
    if has_local:
        local.write_bytes(b"local")
    origin = restore_checkpoint(client, _run(), local)  # type: ignore[arg-type]
    assert origin["source"] == ("local" if has_local else "none")
    assert "corrupt" in origin["refused_upload"]
    assert local.exists() is has_local and (not has_local or local.read_bytes() == b"local")
    assert sorted(p.name for p in tmp_path.iterdir()) == (["checkpoint.pt"] if has_local else [])


def test_an_api_error_on_download_also_falls_back(tmp_path: Path) -> None:
    class Gone(ArtifactClient):
        def download_artifact(self, run_id: int, path: str, target: Path) -> Path:
            raise ApiError(409, "damaged on disk")

    origin = restore_checkpoint(Gone(), _run(), tmp_path / "checkpoint.pt")  # type: ignore[arg-type]
    assert origin["source"] == "none" and "damaged" in origin["refused_upload"]


def test_uploads_name_the_attempt_and_a_refused_one_is_not_fatal(tmp_path: Path) -> None:
    file = tmp_path / "checkpoint.pt"
    file.write_bytes(b"x")
    client = ArtifactClient()
    assert upload_checkpoint(client, 4, 2, file)  # type: ignore[arg-type]
    assert client.uploads == [(RESUME_ARTIFACT, "resume", 2)]
    refused = ArtifactClient(upload_error=ApiError(409, "run 4 is at attempt 3"))
    assert not upload_checkpoint(refused, 4, 2, file)  # type: ignore[arg-type]


def _checkpoint(path: Path, epoch: int) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"epoch": epoch, "model": {"w": torch.zeros(2)}}, buffer)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


@pytest.mark.parametrize(("local_epoch", "uploaded_epoch", "source"), [(5, 3, "local"), (2, 3, "upload")])
def test_the_checkpoint_further_along_is_resumed_from(
    tmp_path: Path, local_epoch: int, uploaded_epoch: int, source: str
) -> None:
    """This node's last epochs may never have been uploaded (an upload failed): the newer file wins."""
    uploaded = _checkpoint(tmp_path / "served.pt", uploaded_epoch)
    client, local = ArtifactClient(served=uploaded), tmp_path / "work" / "checkpoint.pt"
    local.parent.mkdir()
    local_bytes = _checkpoint(local, local_epoch)
    run = {
        "id": 4,
        "attempt": 2,
        "artifacts": [
            {"path": RESUME_ARTIFACT, "sha256": hashlib.sha256(uploaded).hexdigest(), "size": len(uploaded)}
        ],
    }
    assert restore_checkpoint(client, run, local) == {"source": source}  # type: ignore[arg-type]
    assert local.read_bytes() == (local_bytes if source == "local" else uploaded)
    assert [p.name for p in local.parent.iterdir()] == ["checkpoint.pt"]

"""Artifact uploads: atomic, one writer per path, checksums verified on download, odd paths refused."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from backend.artifact_files import exclusive_writer, run_folder
from tests.support import digits_spec
from xclab.settings import Settings


def _run(api: TestClient) -> int:
    exp = api.post("/api/v1/experiments", json={"name": "art"}).json()["id"]
    return api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()}).json()["id"]


def test_a_second_writer_of_a_path_gets_409_and_the_first_stays_intact(
    api: TestClient, settings: Settings
) -> None:
    run_id = _run(api)
    assert api.put(f"/api/v1/runs/{run_id}/artifacts/model.pt", content=b"first").status_code == 200
    target = run_folder(settings.resolved_artifact_root, run_id) / "model.pt"
    with exclusive_writer(target, "model.pt"):  # an upload in progress holds the path
        second = api.put(f"/api/v1/runs/{run_id}/artifacts/model.pt", content=b"second")
        assert second.status_code == 409 and "another request" in second.json()["detail"]
        other = api.put(f"/api/v1/runs/{run_id}/artifacts/other.pt", content=b"other")
        assert other.status_code == 200  # other paths are not blocked
    down = api.get(f"/api/v1/runs/{run_id}/artifacts/model.pt")
    assert (
        down.content == b"first" and down.headers["X-Content-SHA256"] == hashlib.sha256(b"first").hexdigest()
    )
    assert api.put(f"/api/v1/runs/{run_id}/artifacts/model.pt", content=b"third").status_code == 200
    assert api.get(f"/api/v1/runs/{run_id}/artifacts/model.pt").content == b"third"
    leftovers = [p.name for p in target.parent.iterdir() if p.name.endswith(".part")]
    assert leftovers == []


def test_a_damaged_file_is_refused_on_download(api: TestClient, settings: Settings) -> None:
    run_id = _run(api)
    api.put(f"/api/v1/runs/{run_id}/artifacts/model.pt", content=b"good bytes")
    (run_folder(settings.resolved_artifact_root, run_id) / "model.pt").write_bytes(b"bad bytes!")
    down = api.get(f"/api/v1/runs/{run_id}/artifacts/model.pt")
    assert down.status_code == 409 and "sha256" in down.json()["detail"]


# %2E is '.', sent encoded so the HTTP client does not normalise the path away before the server sees it.
@pytest.mark.parametrize("path", ["%2E", "%2E/x", "a/%2E/b", "a//b", ".hidden", "a/%2E%2E", "x" * 501])
def test_odd_paths_are_422(api: TestClient, path: str) -> None:
    run_id = _run(api)
    response = api.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=b"x")
    assert response.status_code in {404, 422}, response.text
    assert api.put(f"/api/v1/runs/{run_id}/artifacts/still/works.txt", content=b"x").status_code == 200


def test_a_file_where_a_folder_is_needed_is_409(api: TestClient) -> None:
    run_id = _run(api)
    assert api.put(f"/api/v1/runs/{run_id}/artifacts/a", content=b"x").status_code == 200
    clash = api.put(f"/api/v1/runs/{run_id}/artifacts/a/b", content=b"y")
    assert clash.status_code == 409 and "clashes" in clash.json()["detail"]
    assert api.put(f"/api/v1/runs/{run_id}/artifacts/c/d", content=b"x").status_code == 200
    assert api.put(f"/api/v1/runs/{run_id}/artifacts/c", content=b"y").status_code == 409


def test_an_upload_is_raw_bytes_whatever_its_content_type(api: TestClient) -> None:
    run_id = _run(api)
    raw = b'{"loss": NaN, "text": "\\u0000"}' + b"x" * 300_000  # would be refused as a JSON body
    for content_type in ("application/json", None):
        headers = {"content-type": content_type} if content_type else {}
        up = api.put(f"/api/v1/runs/{run_id}/artifacts/metrics.json", content=raw, headers=headers)
        assert up.status_code == 200, up.text
        assert api.get(f"/api/v1/runs/{run_id}/artifacts/metrics.json").content == raw

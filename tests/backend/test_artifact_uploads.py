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


def test_the_running_attempt_replaces_its_resume_checkpoint_a_given_up_one_cannot(api: TestClient) -> None:
    run_id = _run(api)
    url = f"/api/v1/runs/{run_id}/artifacts/resume/checkpoint.pt"
    assert (
        api.post(f"/api/v1/runs/{run_id}/claim", json={"worker_host": "a", "attempt": 1}).status_code == 200
    )
    for content in (b"epoch-1", b"epoch-2"):  # the holder refreshes it at every checkpoint
        put = api.put(url, params={"kind": "resume", "attempt": 1}, content=content)
        assert put.status_code == 200 and put.json()["kind"] == "resume"
    assert api.get(url).content == b"epoch-2"
    finish = {"status": "failed", "error": "node lost", "attempt": 1}
    assert api.post(f"/api/v1/runs/{run_id}/finish", json=finish).status_code == 200
    assert api.put(url, params={"kind": "resume", "attempt": 1}, content=b"late").status_code == 409  # final
    assert api.post(f"/api/v1/runs/{run_id}/retry").json()["attempt"] == 2
    assert (
        api.post(f"/api/v1/runs/{run_id}/claim", json={"worker_host": "b", "attempt": 2}).status_code == 200
    )
    stale = api.put(url, params={"kind": "resume", "attempt": 1}, content=b"stale")
    assert stale.status_code == 409 and "attempt 2" in stale.json()["detail"]
    assert api.get(url).content == b"epoch-2"  # what the next attempt resumes from, untouched
    assert api.put(url, params={"kind": "resume", "attempt": 2}, content=b"epoch-3").status_code == 200
    bad = api.put(url, params={"attempt": 0}, content=b"x")
    assert bad.status_code == 422 and "attempt" in bad.text


@pytest.mark.parametrize(
    ("path", "kind"),
    [("resume/checkpoint.pt", "resume"), ("resume/checkpoint.pt", "file"), ("x.pt", "resume")],
)
def test_a_user_cannot_plant_a_resume_checkpoint_in_a_queued_run(
    api: TestClient, path: str, kind: str
) -> None:
    """The next attempt trains from it: only the worker holding the run (or admin) writes it."""
    run_id = _run(api)
    user = api.post("/api/v1/tokens", json={"name": "u", "role": "user"}).json()["token"]
    as_user = {"Authorization": f"Bearer {user}"}
    url = f"/api/v1/runs/{run_id}/artifacts/{path}"
    refused = api.put(url, params={"kind": kind}, content=b"forged weights", headers=as_user)
    assert refused.status_code == 403 and "resume checkpoint" in refused.json()["detail"]
    assert api.get(url).status_code == 404
    # Other artifacts of a run no worker holds stay open to a user, as metrics are.
    assert (
        api.put(f"/api/v1/runs/{run_id}/artifacts/notes.txt", content=b"n", headers=as_user).status_code
        == 200
    )
    assert api.put(url, params={"kind": kind}, content=b"admin").status_code == 200


def test_success_drops_the_resume_checkpoint_and_a_failure_keeps_it(
    api: TestClient, settings: Settings
) -> None:
    """No attempt resumes a succeeded run: its resume checkpoint (2-3x the model) goes, record and file; a failed
    run keeps it for its retry. Its other artifacts stay."""
    kept = _run(api)
    exp = api.get(f"/api/v1/runs/{kept}").json()["experiment_id"]
    dropped = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()}).json()["id"]
    for run_id, outcome in ((kept, "failed"), (dropped, "succeeded")):
        assert (
            api.post(f"/api/v1/runs/{run_id}/claim", json={"worker_host": "a", "attempt": 1}).status_code
            == 200
        )
        for path, kind in (("resume/checkpoint.pt", "resume"), ("model.pt", "checkpoint")):
            put = api.put(f"/api/v1/runs/{run_id}/artifacts/{path}", params={"kind": kind}, content=b"w")
            assert put.status_code == 200
        finish = {"status": outcome, "attempt": 1, "error": "boom" if outcome == "failed" else None}
        assert api.post(f"/api/v1/runs/{run_id}/finish", json=finish).status_code == 200
    paths = {
        r: {a["path"] for a in api.get(f"/api/v1/runs/{r}").json()["artifacts"]} for r in (kept, dropped)
    }
    assert paths == {kept: {"model.pt", "resume/checkpoint.pt"}, dropped: {"model.pt"}}
    assert api.get(f"/api/v1/runs/{dropped}/artifacts/resume/checkpoint.pt").status_code == 404
    folder = run_folder(settings.resolved_artifact_root, dropped)
    assert not (folder / "resume").exists() and (folder / "model.pt").read_bytes() == b"w"
    assert (run_folder(settings.resolved_artifact_root, kept) / "resume" / "checkpoint.pt").exists()

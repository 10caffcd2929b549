"""Roles over HTTP on SQLite and PostgreSQL: admin does everything, a user submits, cancels and reads, a worker
claims and reports only on the run it claimed; tokens are stored hashed and can be revoked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.app import create_app
from backend.models import ApiToken, Run
from tests.support import digits_spec
from xclab.settings import Settings

METRIC = {"metrics": [{"key": "loss", "step": 1, "value": 0.5}]}


def _token(api: TestClient, role: str, name: str = "t") -> tuple[int, str]:
    response = api.post("/api/v1/tokens", json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["token"]


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _queued_run(api: TestClient, headers: dict[str, str] | None = None) -> int:
    exp = api.post("/api/v1/experiments", json={"name": "roles"}, headers=headers)
    exp_id = (
        exp.json()["id"] if exp.status_code == 201 else api.get("/api/v1/experiments").json()["data"][0]["id"]
    )
    run = api.post("/api/v1/runs", json={"experiment_id": exp_id, "spec": digits_spec()}, headers=headers)
    assert run.status_code == 202, run.text
    return run.json()["id"]


def test_tokens_are_stored_hashed_and_listed_without_values(api: TestClient, session: Session) -> None:
    token_id, token = _token(api, "user", "alice")
    row = session.scalars(select(ApiToken).where(ApiToken.id == token_id)).one()
    assert row.token_sha256 != token and token not in row.token_sha256 and len(row.token_sha256) == 64
    listed = api.get("/api/v1/tokens").json()["data"]
    assert [(t["name"], t["role"]) for t in listed] == [("alice", "user")] and "token" not in listed[0]


def test_a_user_submits_cancels_and_reads_but_cannot_claim_or_manage_tokens(api: TestClient) -> None:
    _, user = _token(api, "user")
    run_id = _queued_run(api, _as(user))
    assert api.get(f"/api/v1/runs/{run_id}", headers=_as(user)).status_code == 200
    assert (
        api.post(f"/api/v1/runs/{run_id}/claim", json={"worker_host": "x"}, headers=_as(user)).status_code
        == 403
    )
    assert (
        api.post("/api/v1/tokens", json={"name": "x", "role": "admin"}, headers=_as(user)).status_code == 403
    )
    assert api.get("/api/v1/tokens", headers=_as(user)).status_code == 403
    assert api.post(f"/api/v1/runs/{run_id}/cancel", headers=_as(user)).json()["status"] == "cancelled"


def test_a_worker_reports_only_on_the_run_it_claimed(api: TestClient, session: Session) -> None:
    worker_id, worker = _token(api, "worker", "w1")
    _, other = _token(api, "worker", "w2")
    mine, theirs = _queued_run(api), _queued_run(api)
    # A worker cannot submit, cancel or annotate.
    assert api.post(f"/api/v1/runs/{mine}/cancel", headers=_as(worker)).status_code == 403
    assert api.post("/api/v1/experiments", json={"name": "w"}, headers=_as(worker)).status_code == 403
    claim = api.post(f"/api/v1/runs/{mine}/claim", json={"worker_host": "h"}, headers=_as(worker))
    assert claim.status_code == 200
    assert session.scalar(select(Run.claim_token_id).where(Run.id == mine)) == worker_id
    # The run it holds: heartbeat, metrics, artifacts, finish.
    assert api.post(f"/api/v1/runs/{mine}/heartbeat", headers=_as(worker)).status_code == 200
    assert api.post(f"/api/v1/runs/{mine}/metrics", json=METRIC, headers=_as(worker)).status_code == 200
    assert (
        api.put(f"/api/v1/runs/{mine}/artifacts/model.pt", content=b"w", headers=_as(worker)).status_code
        == 200
    )
    # Another worker's token, a queued run it never claimed, and a user: all refused on this run.
    for headers in (_as(other),):
        assert api.post(f"/api/v1/runs/{mine}/heartbeat", headers=headers).status_code == 403
        assert api.post(f"/api/v1/runs/{mine}/metrics", json=METRIC, headers=headers).status_code == 403
        assert (
            api.post(f"/api/v1/runs/{mine}/finish", json={"status": "succeeded"}, headers=headers).status_code
            == 403
        )
    assert api.post(f"/api/v1/runs/{theirs}/metrics", json=METRIC, headers=_as(worker)).status_code == 403
    assert (
        api.post(
            f"/api/v1/runs/{theirs}/finish", json={"status": "succeeded"}, headers=_as(worker)
        ).status_code
        == 403
    )
    _, user = _token(api, "user", "u")
    assert api.post(f"/api/v1/runs/{mine}/metrics", json=METRIC, headers=_as(user)).status_code == 403
    assert (
        api.post(f"/api/v1/runs/{mine}/finish", json={"status": "succeeded"}, headers=_as(user)).status_code
        == 403
    )
    done = api.post(f"/api/v1/runs/{mine}/finish", json={"status": "succeeded"}, headers=_as(worker))
    assert done.json()["status"] == "succeeded"
    assert api.get(f"/api/v1/runs/{theirs}").json()["status"] == "queued"


def test_a_revoked_token_is_refused(api: TestClient) -> None:
    token_id, user = _token(api, "user")
    assert api.post("/api/v1/experiments", json={"name": "a"}, headers=_as(user)).status_code == 201
    assert api.post(f"/api/v1/tokens/{token_id}/revoke").json()["revoked_at"] is not None
    assert api.post("/api/v1/experiments", json={"name": "b"}, headers=_as(user)).status_code == 401
    assert api.post("/api/v1/experiments", json={"name": "b"}, headers=_as("xcu_forged")).status_code == 401


def test_without_a_token_writes_are_401_before_the_body_is_read(api: TestClient) -> None:
    huge = b'{"name": "' + b"x" * 10_000_000 + b'"}'
    response = api.post(
        "/api/v1/experiments", content=huge, headers={"Authorization": "", "content-type": "application/json"}
    )
    assert response.status_code == 401  # not 413: the token is checked first


@pytest.fixture()
def open_api(settings: Settings) -> Iterator[TestClient]:
    insecure = settings.model_copy(update={"api_token": None, "insecure_no_auth": True})
    with TestClient(create_app(insecure)) as client:
        yield client


def test_insecure_no_auth_accepts_everything(open_api: TestClient) -> None:
    assert open_api.post("/api/v1/experiments", json={"name": "open"}).status_code == 201


def test_health_hides_details_from_anonymous_callers_when_reads_need_a_token(settings: Settings) -> None:
    locked = settings.model_copy(update={"read_requires_auth": True})
    with TestClient(create_app(locked)) as client:
        anonymous = client.get("/api/v1/health").json()
        assert anonymous["status"] == "ok" and anonymous["version"] == ""
        assert anonymous["database"]["revision"] is None and anonymous["broker"]["detail"] == "ok"
        assert client.get("/api/v1/runs").status_code == 401
        full = client.get("/api/v1/health", headers={"Authorization": f"Bearer {settings.api_token}"}).json()
        assert full["version"] and full["database"]["revision"] == full["database"]["head"]

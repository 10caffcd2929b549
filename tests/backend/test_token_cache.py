"""Verified tokens are cached briefly: a revoke through the API is refused from the next request on, one made
on the database directly at the latest after the cache's time to live, and a lookup racing a revoke cannot
cache the token again."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from backend.store.tokens import revoke_token
from backend.token_cache import CachedToken, TokenCache


def _token(api: TestClient, role: str) -> tuple[int, str]:
    response = api.post("/api/v1/tokens", json={"name": "cached", "role": role})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["token"]


def _tracking_run(api: TestClient) -> int:
    experiment = api.post("/api/v1/experiments", json={"name": "cache"}).json()["id"]
    run = api.post("/api/v1/runs", json={"experiment_id": experiment, "params": {}})
    assert run.status_code == 202, run.text
    return run.json()["id"]


def _write(api: TestClient, run_id: int, token: str, step: int) -> int:
    body = {"metrics": [{"key": "loss", "step": step, "value": 0.5}]}
    return api.post(
        f"/api/v1/runs/{run_id}/metrics", json=body, headers={"Authorization": f"Bearer {token}"}
    ).status_code


def test_a_token_revoked_through_the_api_is_refused_on_the_next_request(api: TestClient) -> None:
    run_id = _tracking_run(api)
    token_id, user = _token(api, "user")
    assert _write(api, run_id, user, 1) == 200
    assert _write(api, run_id, user, 2) == 200  # answered from the cache
    assert len(api.app.state.token_cache._entries) == 1  # type: ignore[attr-defined]
    assert api.post(f"/api/v1/tokens/{token_id}/revoke").status_code == 200
    assert _write(api, run_id, user, 3) == 401
    assert api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {user}"}).status_code == 401


def test_a_token_revoked_on_the_database_is_refused_once_the_cache_entry_expires(
    api: TestClient, session: Session
) -> None:
    api.app.state.token_cache = TokenCache(ttl=0.5)  # type: ignore[attr-defined]
    run_id = _tracking_run(api)
    token_id, user = _token(api, "user")
    assert _write(api, run_id, user, 1) == 200
    revoke_token(session, token_id)  # as `xclab token revoke` does, behind this server's back
    session.commit()
    assert _write(api, run_id, user, 2) == 200  # the documented bound: cached for up to the time to live
    time.sleep(0.6)
    assert _write(api, run_id, user, 3) == 401


def test_a_lookup_that_raced_a_revoke_is_not_cached() -> None:
    cache = TokenCache()
    token = CachedToken(7, "user", "u")
    started = cache.generation  # a lookup reads the row as live...
    cache.forget(7)  # ...while the revoke commits
    cache.put("digest", token, started)
    assert cache.get("digest") is None
    cache.put("digest", token, cache.generation)
    assert cache.get("digest") == token
    cache.forget(7)
    assert cache.get("digest") is None


def test_entries_expire_and_the_cache_stays_bounded() -> None:
    cache = TokenCache(ttl=0.05, size=2)
    for i in range(3):
        cache.put(f"d{i}", CachedToken(i, "worker", f"w{i}"), cache.generation)
    assert cache.get("d0") is None and cache.get("d2") == CachedToken(2, "worker", "w2")
    time.sleep(0.06)
    assert cache.get("d2") is None

"""A plain runs page (`GET /api/v1/runs`) is answered in front of FastAPI with exactly the full stack's answer;
any other query, a refusal, or a caller to look up goes to the full stack, which answers as it always has."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend.app import create_app
from tests.backend.conftest import TOKEN
from xclab.settings import Settings


class StackEntered(Exception):
    """Raised by the stand-in for FastAPI's stack: the request went past the front door."""


async def _broken(scope: Any, receive: Any, send: Any) -> None:
    raise StackEntered


def _front_door(api: TestClient, params: Any, headers: dict[str, str] | None = None) -> Any:
    """The front door's answer (status, body), or None when the request reached FastAPI's stack (replaced for
    the call by one that raises)."""
    app: FastAPI = api.app  # type: ignore[assignment]
    stack, app.middleware_stack = app.middleware_stack, _broken  # type: ignore[assignment]
    try:
        response = api.get("/api/v1/runs", params=params, headers=headers)
    except StackEntered:
        return None
    finally:
        app.middleware_stack = stack
    return response.status_code, response.content, response.headers["content-type"]


def _full_stack(api: TestClient, params: Any) -> Any:
    """The same request answered by the route: a parameter the front door does not know sends it there (FastAPI
    ignores an unknown query parameter)."""
    response = api.get("/api/v1/runs", params=[*_pairs(params), ("unknown", "1")])
    return response.status_code, response.content, response.headers["content-type"]


def _pairs(params: Any) -> list[tuple[str, Any]]:
    return list(params.items()) if isinstance(params, dict) else list(params)


@pytest.fixture()
def seeded(api: TestClient) -> int:
    """An experiment of twelve tracking runs with params, a metric and tags."""
    experiment = api.post("/api/v1/experiments", json={"name": "search"}).json()["id"]
    for i in range(12):
        params = {"arch": "resnet50" if i % 3 == 0 else "vgg", "lr": 0.1 * (i + 1)}
        run = api.post("/api/v1/runs", json={"experiment_id": experiment, "params": params}).json()["id"]
        if i % 4:
            body = {"metrics": [{"key": "val_top1", "step": 1, "value": (i * 7) % 12}]}
            api.post(f"/api/v1/runs/{run}/metrics", json=body)
        api.patch(f"/api/v1/runs/{run}", json={"tags": ["even" if i % 2 == 0 else "odd"]})
    return experiment


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"param": "arch:resnet50", "sort": "-metric:val_top1", "limit": "3"},
        {"sort": "metric:val_top1", "limit": "5"},
        [("tag", "even"), ("param", "arch:vgg"), ("sort", "created_at")],
        [("status", "running"), ("status", "queued"), ("task", "classification"), ("method", "erm")],
        {"search": "odd", "sort": "id", "limit": "1000"},
        {"field": "hparams.lr:0.1"},
        {"page_token": ""},
        {"limit": "007"},  # leading zeros: the same number to the route
        {"limit": "000000000000000005"},  # 18 digits, the most the front door reads
    ],
)
def test_a_plain_query_is_answered_at_the_front_door_as_the_route_answers_it(
    api: TestClient, seeded: int, query: Any
) -> None:
    params = [("experiment_id", str(seeded)), *_pairs(query)]
    answer = _front_door(api, params)
    assert answer is not None
    assert answer == _full_stack(api, params)
    assert answer[0] == 200


def test_every_page_of_a_walk_matches_the_route(api: TestClient, seeded: int) -> None:
    params: dict[str, str] = {"experiment_id": str(seeded), "sort": "-metric:val_top1", "limit": "2"}
    seen = []
    while True:
        answer = _front_door(api, params)
        assert answer is not None and answer == _full_stack(api, params)
        page = api.get("/api/v1/runs", params=params).json()
        seen += [run["id"] for run in page["data"]]
        if not page["next_page_token"]:
            break
        params["page_token"] = page["next_page_token"]
    assert len(seen) == len(set(seen)) == 12


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},  # out of bounds: the route's 422
        {"limit": "1001"},
        {"limit": "+5"},  # not plain digits: the route decides
        {"limit": " 5"},
        {"experiment_id": "x"},
        {"experiment_id": "-1"},
        {"experiment_id": "99999999999999999999"},  # past 64 bits: `RequestGuard`'s 422
        {"experiment_id": "1000000000000000000"},  # 19 digits: within 64 bits, left to the route
        {"search": "w" * 201},
        {"sort": "nonsense"},  # the store refuses it: the route's 422
        {"page_token": "garbage!"},
        [("sort", "id"), ("sort", "-id")],  # a single-valued parameter given twice
        {"unknown": "1"},
        {"param": "no-colon"},
        {"search": "a\x00b"},
    ],
)
def test_any_other_query_reaches_the_route(api: TestClient, query: Any) -> None:
    assert _front_door(api, query) is None
    answer = _full_stack(api, query)  # the route's own answer, whatever it is
    assert answer[0] in {200, 422}


def test_reads_that_need_a_caller_take_one_known_without_the_database(settings: Settings) -> None:
    locked = settings.model_copy(update={"read_requires_auth": True})
    admin = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(locked)) as api:
        assert _front_door(api, {}, admin) is not None  # the admin token
        assert _front_door(api, {}) is None  # no token: `RequestGuard`'s 401
        assert api.get("/api/v1/runs").status_code == 401
        assert (
            _front_door(api, {}, {"Authorization": "Bearer unknown"}) is None
        )  # to look up: the route's 401
        assert api.get("/api/v1/runs", headers={"Authorization": "Bearer unknown"}).status_code == 401
        made = api.post("/api/v1/tokens", json={"name": "reader", "role": "user"}, headers=admin).json()
        user = {"Authorization": f"Bearer {made['token']}"}
        assert _front_door(api, {}, user) is None  # not cached yet: the route looks it up (and caches it)
        assert api.get("/api/v1/runs", headers=user).status_code == 200
        assert _front_door(api, {}, user) is not None  # cached: answered here
        api.post(f"/api/v1/tokens/{made['id']}/revoke", headers=admin)
        assert _front_door(api, {}, user) is None  # revoked: out of the cache, the route's 401
        assert api.get("/api/v1/runs", headers=user).status_code == 401


def test_a_repeated_authorization_header_goes_to_the_route(settings: Settings) -> None:
    """`RequestGuard` reads the last of two headers and the bearer scheme the first: only the route answers."""
    locked = settings.model_copy(update={"read_requires_auth": True})
    with TestClient(create_app(locked)) as api:
        twice = [("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Basic eA==")]
        assert _front_door(api, {}, twice) is None  # type: ignore[arg-type]
        assert api.get("/api/v1/runs", headers=twice).status_code == 401  # type: ignore[arg-type]

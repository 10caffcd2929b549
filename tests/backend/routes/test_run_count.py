"""GET /runs/count on SQLite and PostgreSQL: the same filters as the runs list, and "count" is no run id."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.backend.test_runs_table_api import _patch
from tests.factories import create_experiment, submit


def test_count_follows_the_runs_list_filters(api: TestClient) -> None:
    exp, other = create_experiment(api, "count-a")["id"], create_experiment(api, "count-b")["id"]
    ids = [submit(api, exp, seed=i)["id"] for i in range(3)]
    submit(api, other, method={"name": "ls"})
    assert api.post(f"/api/v1/runs/{ids[0]}/cancel").status_code == 200
    assert _patch(api, ids[1], tags=["keep"]).status_code == 200

    def count(**params: object) -> int:
        response = api.get("/api/v1/runs/count", params=params)
        assert response.status_code == 200, response.text
        listed = api.get("/api/v1/runs", params={**params, "limit": 1000}).json()["data"]
        assert response.json()["total"] == len(listed)  # the table's total and its rows agree
        return response.json()["total"]

    assert count() == 4
    assert count(experiment_id=exp) == 3
    assert count(experiment_id=exp, status="cancelled") == 1
    assert count(method="ls") == 1 and count(task="digits") == 4
    assert count(tag="keep") == 1 and count(tag=["keep", "nope"]) == 0
    assert api.get("/api/v1/runs/987654").status_code == 404  # ids still reach the run route


def test_search_matches_words_in_text_columns_tags_and_ids(api: TestClient) -> None:
    exp = create_experiment(api, "search-a")["id"]
    plain = submit(api, exp, seed=0)
    kd = submit(api, exp, method={"name": "ls"}, seed=1)
    assert _patch(api, plain["id"], tags=["Baseline_v2"], notes="100% done").status_code == 200

    def found(search: str) -> list[int]:
        params = {"experiment_id": exp, "search": search, "limit": 1000}
        listed = api.get("/api/v1/runs", params=params)
        assert listed.status_code == 200, listed.text
        total = api.get("/api/v1/runs/count", params=params | {"limit": None}).json()["total"]
        ids = sorted(r["id"] for r in listed.json()["data"])
        assert total == len(ids)
        return ids

    assert found("LS") == [kd["id"]]
    assert found("baseline_v2") == [plain["id"]] and found("baseline_v") == [plain["id"]]
    assert found("erm small-cnn") == [plain["id"]]  # every word must match
    assert found("erm ls") == []
    assert found(f"#{kd['id']}") == [kd["id"]]
    assert found("100%") == [plain["id"]] and found("%") == [plain["id"]]  # wildcards are literal
    assert found("_") == [plain["id"]]
    assert found("   ") == sorted([plain["id"], kd["id"]])
    too_long = api.get("/api/v1/runs", params={"search": "x" * 201})
    assert too_long.status_code == 422 and "search" in too_long.text

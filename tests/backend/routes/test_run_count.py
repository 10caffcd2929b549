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

"""Grids that must be refused before anything is stored: an unknown task, more cells than the cap."""

from __future__ import annotations

from fastapi.testclient import TestClient

from xclab.grids import MAX_GRID_CELLS


def test_a_grid_with_an_unknown_task_is_422_and_stores_nothing(api: TestClient) -> None:
    grid = {
        "name": "g",
        "task": "no-such-task",
        "students": {"models": [{"name": "small-cnn"}], "methods": [{"name": "erm"}]},
    }
    response = api.post("/api/v1/grids", json={"definition": grid})
    assert response.status_code == 422, response.text
    assert any("task" in str(e["loc"]) for e in response.json()["detail"])
    assert api.get("/api/v1/grids").json()["data"] == []
    assert api.get("/api/v1/experiments").json()["data"] == []


def test_a_grid_without_cells_is_422_even_with_an_unknown_task(api: TestClient) -> None:
    for task in ("no-such-task", "digits"):
        response = api.post("/api/v1/grids", json={"definition": {"name": "empty", "task": task}})
        assert response.status_code == 422, response.text
    assert api.get("/api/v1/grids").json()["data"] == []


def test_a_grid_past_the_cell_cap_is_422(api: TestClient) -> None:
    grid = {
        "name": "huge",
        "task": "digits",
        "students": {
            "models": [{"name": "small-cnn"}],
            "seeds": list(range(MAX_GRID_CELLS + 1)),
            "methods": [{"name": "erm"}],
        },
    }
    response = api.post("/api/v1/grids", json={"definition": grid})
    assert response.status_code == 422 and "at most 2,000" in response.text
    assert api.get("/api/v1/grids").json()["data"] == []

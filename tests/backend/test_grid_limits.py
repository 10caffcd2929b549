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


def test_a_cell_key_longer_than_its_column_and_a_bad_queue_are_422(api: TestClient) -> None:
    long_values = [float(f"0.{'1' * 15}{i}") for i in range(20)]
    grid = {
        "name": "long",
        "task": "digits",
        "teachers": [{"name": "ens", "members": 1, "model": {"name": "small-cnn"}}],
        "students": {
            "models": [{"name": "small-cnn"}],
            "methods": [{"name": "kd", "teachers": "ens", "temperature": long_values, "alpha": [0.5]}],
        },
    }
    grid["students"]["methods"][0]["beta_" + "x" * 280] = [1.0]
    response = api.post("/api/v1/grids", json={"definition": grid})
    assert response.status_code == 422 and "cell key longer than 300" in response.text, response.text
    assert api.get("/api/v1/grids").json()["data"] == []
    bad_queue = {**grid, "queue": "Q" * 100, "students": {**grid["students"], "methods": [{"name": "erm"}]}}
    assert api.post("/api/v1/grids", json={"definition": bad_queue}).status_code == 422

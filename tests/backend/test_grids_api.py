"""Grids over HTTP on SQLite and PostgreSQL: expansion, waiting students, retries and the paper-style report."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from tests.factories import finish, make_grid

GRID = {
    "name": "tiny",
    "task": "digits",
    "epochs": 2,
    "teachers": [{"name": "ens", "members": 2, "model": {"name": "small-cnn"}}],
    "students": {
        "models": [{"name": "small-cnn", "width": 0.5}],
        "seeds": [0, 1],
        "methods": [
            {"name": "erm"},
            {"name": "kd", "teachers": "ens"},
            {"name": "xcl-mix", "teachers": "ens"},
        ],
    },
}


def test_grid_expands_with_waiting_students(api: TestClient) -> None:
    response = api.post("/api/v1/grids", json={"definition": GRID})
    assert response.status_code == 201, response.text
    grid = response.json()
    assert len(grid["cells"]) == 2 + 3 * 2
    roles = {c["key"]: (c["role"], c["status"]) for c in grid["cells"]}
    assert roles["teacher/ens/0"] == ("teacher", "queued")
    assert roles["student/erm/small-cnn@0.5/seed=0"] == ("student", "queued")
    assert roles["student/kd/small-cnn@0.5/seed=1"] == ("student", "waiting")
    assert grid["counts"] == {"queued": 4, "waiting": 4} and not grid["done"]
    [summary] = api.get("/api/v1/grids", params={"cells": "false"}).json()["data"]
    assert summary["counts"] == grid["counts"] and summary["cells"] == [] and not summary["done"]
    experiments = api.get("/api/v1/experiments").json()["data"]
    assert [e["name"] for e in experiments] == ["tiny"]
    kd = next(c for c in grid["cells"] if c["key"].startswith("student/kd"))
    teachers = [c["run_id"] for c in grid["cells"] if c["role"] == "teacher"]
    assert kd["teachers"] == teachers
    waiting = api.get("/api/v1/runs", params={"status": "waiting"}).json()["data"]
    assert len(waiting) == 4 and all(r["grid_id"] == grid["id"] for r in waiting)


def test_grid_spec_errors_name_the_cell(api: TestClient) -> None:
    bad = {
        **GRID,
        "students": {**GRID["students"], "methods": [{"name": "kd", "teachers": "ens", "temperature": -1}]},
    }
    response = api.post("/api/v1/grids", json={"definition": bad})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["loc"][3] for e in errors] == [
        "student/kd/small-cnn@0.5/seed=0",
        "student/kd/small-cnn@0.5/seed=1",
    ]
    error = errors[0]
    assert error["loc"][:3] == ["body", "definition", "cells"]
    assert "temperature must be > 0" in error["msg"]
    assert api.get("/api/v1/runs").json()["data"] == []  # nothing half-created


def test_failed_teacher_fails_students_and_grid_retry_reenqueues_only_those(api: TestClient) -> None:
    grid, cells = make_grid(api, GRID)
    finish(api, cells["teacher/ens/0"], "failed", error="oom")
    after = api.get(f"/api/v1/grids/{grid['id']}").json()
    kd = next(c for c in after["cells"] if c["key"] == "student/kd/small-cnn@0.5/seed=0")
    assert kd["status"] == "failed" and kd["error"] == f"teacher run {cells['teacher/ens/0']} failed: oom"
    finish(api, cells["student/erm/small-cnn@0.5/seed=0"], "succeeded", {"test_top1": 90.0})
    retried = api.post(f"/api/v1/grids/{grid['id']}/retry").json()
    states = {c["key"]: (c["status"], c["attempt"]) for c in retried["cells"]}
    assert states["teacher/ens/0"] == ("queued", 2)
    assert states["student/kd/small-cnn@0.5/seed=0"] == ("waiting", 2)
    assert states["student/erm/small-cnn@0.5/seed=0"] == ("succeeded", 1)  # untouched


def test_report_means_gaps_and_gap_reduction(api: TestClient) -> None:
    grid, cells = make_grid(api, GRID)
    for k in (0, 1):
        finish(api, cells[f"teacher/ens/{k}"], "succeeded", {"test_top1": 95.0 + k})
    scores = {"erm": (90.0, 92.0), "kd": (93.0, 93.0), "xcl-mix": (95.0, 96.0)}
    for method, values in scores.items():
        for seed, value in enumerate(values):
            extra = {"teacher_test_top1": 97.0, "h_hat": 30.0} if method != "erm" else {"h_hat": 0.0}
            finish(
                api,
                cells[f"student/{method}/small-cnn@0.5/seed={seed}"],
                "succeeded",
                {"test_top1": value, **extra},
            )
    report = api.get(f"/api/v1/grids/{grid['id']}/report").json()
    assert (
        report["ensemble_score"] == 97.0 and report["selection"] == "last-epoch" and report["seeds"] == [0, 1]
    )
    rows = {r["method"]: r for r in report["rows"]}
    assert rows["erm"]["mean"] == 91.0 and rows["erm"]["std"] == pytest.approx(1.41421, rel=1e-4)
    assert rows["kd"]["gap"] == 4.0 and rows["xcl-mix"]["gap"] == 1.5
    assert rows["xcl-mix"]["gap_reduction_vs_kd"] == pytest.approx(62.5)
    assert rows["erm"]["gap_reduction_vs_kd"] == pytest.approx(-50.0)
    assert rows["kd"]["n"] == 2 and rows["kd"]["h_hat"] == 30.0
    assert report["teachers"] == [
        {"ensemble": "ens", "members": 2, "succeeded": 2, "member_mean": 95.5, "score": 97.0}
    ]

    markdown = api.get(f"/api/v1/grids/{grid['id']}/report", params={"format": "markdown"}).text
    assert (
        "| xcl-mix | small-cnn@0.5 | ens | 2/2 | 95.50 ± 0.71 | [89.15, 101.85] | 1.50 [-4.85, 7.85] |"
        in markdown
    )
    assert "last-epoch" in markdown and "seeds [0, 1]" in markdown
    latex = api.get(f"/api/v1/grids/{grid['id']}/report", params={"format": "latex"}).text
    assert r"\begin{tabular}" in latex and r"95.50 $\pm$ 0.71" in latex
    rows_csv = list(
        csv.DictReader(
            io.StringIO(api.get(f"/api/v1/grids/{grid['id']}/report", params={"format": "csv"}).text)
        )
    )
    assert {r["method"] for r in rows_csv} == {"erm", "kd", "xcl-mix"} and rows_csv[0][
        "selection"
    ] == "last-epoch"


def test_builtin_grids_are_listed(api: TestClient) -> None:
    names = {g["name"] for g in api.get("/api/v1/grids/builtin").json()["data"]}
    assert {"digits-paper", "synthetic-gaze-paper"} <= names
    assert api.get("/api/v1/grids/999").status_code == 404

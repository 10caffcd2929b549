"""The analysis endpoints over HTTP on SQLite and PostgreSQL, with faked run lifecycles and hand-picked metrics:
gap and gap reduction, Ĥ studies, error against size, lineage with stale students, and compute cost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from backend.models import Run
from tests.factories import create_experiment, finish, make_grid

TEACHERS = [{"name": "ens", "members": 2, "model": {"name": "small-cnn"}}]


def _grid(api: TestClient, definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    return make_grid(api, {"task": "digits", "epochs": 2, **definition})


def _get(api: TestClient, view: str, **params: int) -> dict[str, Any]:
    response = api.get(f"/api/v1/analytics/{view}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _finish_teachers(api: TestClient, cells: dict[str, int], score: float = 96.0) -> None:
    for key, run_id in cells.items():
        if key.startswith("teacher/"):
            finish(api, run_id, metrics={"test_top1": score, "wall_time_s": 7200.0})


# ------------------------------------------------------------ gap


def test_gap_per_method_with_reduction_vs_kd(api: TestClient) -> None:
    grid, cells = _grid(
        api,
        {
            "name": "gap",
            "teachers": TEACHERS,
            "students": {
                "models": [{"name": "small-cnn", "width": 0.5}],
                "seeds": [0, 1],
                "methods": [
                    {"name": "erm"},
                    {"name": "kd", "teachers": "ens"},
                    {"name": "xcl-mix", "teachers": "ens"},
                ],
            },
        },
    )
    _finish_teachers(api, cells)
    scores = {"erm": (90.0, 92.0), "kd": (93.0, 93.0), "xcl-mix": (95.0, 96.0)}
    for method, values in scores.items():
        for seed, value in enumerate(values):
            extra = {"teacher_test_top1": 97.0} if method != "erm" else {}
            finish(
                api,
                cells[f"student/{method}/small-cnn@0.5/seed={seed}"],
                metrics={"test_top1": value, **extra},
            )

    body = _get(api, "gap", grid_id=grid["id"])
    assert body["scope"] == {"kind": "grid", "id": grid["id"], "name": "gap"}
    [section] = body["sections"]
    assert section["ensemble_score"] == 97.0 and section["metric"] == "test_top1" and section["goal"] == "max"
    rows = {r["method"]: r for r in section["rows"]}
    assert rows["erm"]["mean"] == 91.0 and rows["erm"]["std"] == pytest.approx(2**0.5)
    assert rows["kd"]["gap"] == 4.0 and rows["xcl-mix"]["gap"] == 1.5 and rows["erm"]["gap"] == 6.0
    assert rows["xcl-mix"]["gap_reduction_vs_kd"] == pytest.approx(62.5)
    assert rows["erm"]["gap_reduction_vs_kd"] == pytest.approx(-50.0)
    assert {r["kd_group"] for r in rows.values()} == {"student/kd/small-cnn@0.5"}
    assert rows["kd"]["ensemble"] == "ens" and rows["erm"]["ensemble"] is None
    assert rows["kd"]["teacher"] == 97.0 and rows["kd"]["n"] == 2

    # The same grid through its experiment: one section, the same numbers.
    by_experiment = _get(api, "gap", experiment_id=grid["experiment_id"])
    assert by_experiment["scope"]["kind"] == "experiment"
    assert [s["grid_id"] for s in by_experiment["sections"]] == [grid["id"]]
    assert by_experiment["sections"][0]["rows"] == section["rows"]


def test_runs_outside_grids_are_grouped_by_method_and_model(api: TestClient) -> None:
    experiment = create_experiment(api, "loose")["id"]

    def submit(method: dict[str, Any], seed: int, teachers: tuple[int, ...] = (), width: float = 0.5) -> int:
        spec = {
            "task": "digits",
            "model": {"name": "small-cnn", "width": width},
            "method": method,
            "teachers": list(teachers),
            "seed": seed,
        }
        response = api.post("/api/v1/runs", json={"experiment_id": experiment, "spec": spec})
        assert response.status_code == 202, response.text
        return response.json()["id"]

    teachers = [submit({"name": "cutmix"}, 100 + k, width=1.0) for k in range(2)]
    for t in teachers:
        finish(api, t, metrics={"test_top1": 95.0})
    for seed, value in enumerate((80.0, 84.0)):
        finish(api, submit({"name": "erm"}, seed), metrics={"test_top1": value})
    for seed, value in enumerate((88.0, 90.0)):
        run = submit({"name": "kd", "temperature": 4.0}, seed, tuple(teachers))
        finish(api, run, metrics={"test_top1": value, "teacher_test_top1": 96.0, "h_hat": 50.0 + seed})

    [section] = _get(api, "gap", experiment_id=experiment)["sections"]
    assert section["grid_id"] is None and section["grid"] == "loose: digits runs outside grids"
    rows = {r["method"]: r for r in section["rows"]}
    assert set(rows) == {"erm", "kd[temperature=4]"}  # the cutmix runs teach: they are not students
    assert rows["erm"]["mean"] == 82.0 and rows["kd[temperature=4]"]["gap"] == 7.0
    assert rows["kd[temperature=4]"]["ensemble"] == f"runs-{teachers[0]}+{teachers[1]}"
    [point] = [
        p
        for p in _get(api, "entropy", experiment_id=experiment)["sections"][0]["points"]
        if p["method"] == "kd"
    ]
    assert point["h_hat"] == 50.5 and point["params"]["temperature"] == 4.0


# ------------------------------------------------------------ entropy


def test_entropy_points_carry_the_swept_parameters(api: TestClient) -> None:
    grid, cells = _grid(
        api,
        {
            "name": "entropy",
            "teachers": TEACHERS,
            "students": {
                "models": [{"name": "small-cnn", "width": 0.5}],
                "seeds": [0, 1],
                "methods": [
                    {"name": "ls", "epsilon": [0.1, 0.4]},
                    {"name": "kd", "teachers": "ens", "temperature": [1.0, 2.0]},
                    {"name": "xcl-mix", "teachers": "ens"},
                ],
            },
        },
    )
    _finish_teachers(api, cells)
    values = {  # group -> [(top1, h_hat) per seed]
        "ls[epsilon=0.1]": [(90.0, 17.0), (92.0, 17.0)],
        "ls[epsilon=0.4]": [(89.0, 54.5), (89.0, 54.5)],
        "kd[temperature=1]": [(91.0, 10.0), (93.0, 12.0)],
        "kd[temperature=2]": [(92.0, 80.0), (92.0, 82.0)],
        "xcl-mix": [(95.0, 28.0), (96.0, 30.0)],
    }
    for label, per_seed in values.items():
        for seed, (top1, h) in enumerate(per_seed):
            extra = {"teacher_test_top1": 97.0} if not label.startswith("ls") else {}
            finish(
                api,
                cells[f"student/{label}/small-cnn@0.5/seed={seed}"],
                metrics={"test_top1": top1, "h_hat": h, **extra},
            )

    [section] = _get(api, "entropy", grid_id=grid["id"])["sections"]
    points = {p["method_label"]: p for p in section["points"]}
    kd2 = points["kd[temperature=2]"]
    assert (
        kd2["study"] == "kd: temperature" and kd2["label"] == "T=2" and kd2["swept"] == {"temperature": 2.0}
    )
    assert kd2["h_hat"] == 81.0 and kd2["h_hat_std"] == pytest.approx(2**0.5) and kd2["mean"] == 92.0
    assert kd2["params"] == {"temperature": 2.0, "t2_factor": True, "gt_weight": 0.0}
    assert kd2["transfer_set"] == "original" and kd2["ensemble"] == "ens" and kd2["teacher_score"] == 97.0
    assert sorted(r["h_hat"] for r in kd2["runs"]) == [80.0, 82.0]
    assert {r["seed"] for r in kd2["runs"]} == {0, 1}
    ls = points["ls[epsilon=0.4]"]
    assert ls["study"] == "ls: epsilon" and ls["label"] == "ε=0.4" and ls["h_hat"] == 54.5
    assert ls["transfer_set"] is None and ls["teacher_score"] is None
    xcl = points["xcl-mix"]
    assert (
        xcl["study"] == "methods"
        and xcl["transfer_set"] == "extended"
        and xcl["std"] == pytest.approx(0.5**0.5)
    )


# ------------------------------------------------------------ student size


def test_student_size_errors_against_params_and_macs(api: TestClient) -> None:
    grid, cells = _grid(
        api,
        {
            "name": "size",
            "teachers": TEACHERS,
            "students": {
                "models": [{"name": "small-cnn"}, {"name": "small-cnn", "options": {"binary": True}}],
                "widths": [0.5, 1.0],
                "seeds": [0, 1],
                "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
            },
        },
    )
    _finish_teachers(api, cells)
    for key, run_id in cells.items():
        if not key.startswith("student/"):
            continue
        binary, width, seed = ",binary=True" in key, float(key.split("@")[1].split("/")[0]), int(key[-1])
        top1 = 80.0 + 10 * width - (5.0 if binary else 0.0) + (2.0 if "/kd/" in key else 0.0) + seed
        metrics = {"test_top1": top1, "params": 1000.0 * width, "macs": 5000.0 * width + seed}
        metrics["binary_macs"] = 4000.0 * width if binary else 0.0
        if "/kd/" in key:
            metrics["teacher_test_top1"] = 96.5
        finish(api, run_id, metrics=metrics)

    [section] = _get(api, "student-size", grid_id=grid["id"])["sections"]
    assert section["error_metric"] == "top-1 error (%)" and section["teacher_error"] == pytest.approx(3.5)
    points = {(p["method"], p["precision"], p["width"]): p for p in section["points"]}
    assert len(points) == 8
    kd_binary_half = points[("kd", "binary", 0.5)]
    # top1 = 80 + 5 - 5 + 2 + seed -> 82, 83: error 17.5 ± 0.707
    assert kd_binary_half["error"] == pytest.approx(17.5) and kd_binary_half["error_std"] == pytest.approx(
        0.5**0.5
    )
    assert kd_binary_half["params"] == 500.0 and kd_binary_half["macs"] == 2500.5
    assert (
        kd_binary_half["binary_macs"] == 2000.0
        and kd_binary_half["model_label"] == "small-cnn,binary=True@0.5"
    )
    erm_full = points[("erm", "full", 1.0)]
    assert erm_full["error"] == pytest.approx(9.5) and erm_full["n"] == 2 and erm_full["params"] == 1000.0


def test_student_size_on_gaze_uses_the_angular_error(api: TestClient) -> None:
    grid, cells = _grid(
        api,
        {
            "name": "gaze-size",
            "task": "synthetic-gaze",
            "teachers": [{"name": "ens", "members": 1, "model": {"name": "preact-resnet9", "width": 0.125}}],
            "students": {
                "models": [{"name": "lenet"}],
                "widths": [0.5],
                "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
            },
        },
    )
    finish(api, cells["teacher/ens/0"], metrics={"test_angular_error": 4.0})
    finish(api, cells["student/erm/lenet@0.5/seed=0"], metrics={"test_angular_error": 8.0, "params": 10.0})
    kd = {"test_angular_error": 6.0, "teacher_test_angular_error": 4.5, "params": 10.0}
    finish(api, cells["student/kd/lenet@0.5/seed=0"], metrics=kd)
    [section] = _get(api, "student-size", grid_id=grid["id"])["sections"]
    assert section["error_metric"] == "angular error (°)" and section["teacher_error"] == 4.5
    assert {p["method"]: p["error"] for p in section["points"]} == {"erm": 8.0, "kd": 6.0}
    [gap] = _get(api, "gap", grid_id=grid["id"])["sections"]
    assert {r["method"]: r["gap"] for r in gap["rows"]} == {"erm": 3.5, "kd": 1.5}  # student minus ensemble


# ------------------------------------------------------------ lineage


def test_lineage_edges_and_stale_students(api: TestClient, session: Session) -> None:
    grid, cells = _grid(
        api,
        {
            "name": "lineage",
            "teachers": TEACHERS,
            "generators": [{"name": "gan", "model": {"name": "cgan", "width": 0.5}, "recipe": "digits-gan"}],
            "students": {
                "models": [{"name": "small-cnn", "width": 0.5}],
                "methods": [
                    {"name": "erm"},
                    {"name": "kd", "teachers": "ens"},
                    {"name": "xcl-gan", "teachers": "ens", "generator": "gan"},
                ],
            },
        },
    )
    t0, t1, gan = cells["teacher/ens/0"], cells["teacher/ens/1"], cells["generator/gan"]
    erm, kd, xcl = (cells[f"student/{m}/small-cnn@0.5/seed=0"] for m in ("erm", "kd", "xcl-gan"))
    for run_id in (t0, t1, gan):
        finish(api, run_id, metrics={"test_top1": 95.0} if run_id != gan else {})
    finish(api, kd, metrics={"test_top1": 93.0})
    finish(api, xcl, metrics={"test_top1": 94.0})

    body = _get(api, "lineage", grid_id=grid["id"])
    nodes = {n["id"]: n for n in body["nodes"]}
    assert len(nodes) == 6 and body["stale"] == []
    assert nodes[gan]["role"] == "generator" and nodes[t0]["role"] == "teacher"
    assert (
        nodes[kd]["role"] == "student" and nodes[kd]["value"] == 93.0 and nodes[kd]["metric"] == "test_top1"
    )
    assert nodes[erm]["status"] == "queued" and nodes[kd]["model"] == "small-cnn@0.5"
    edges = {(e["source"], e["target"], e["kind"]) for e in body["edges"]}
    assert edges == {
        (t0, kd, "teacher"),
        (t1, kd, "teacher"),
        (t0, xcl, "teacher"),
        (t1, xcl, "teacher"),
        (gan, xcl, "generator"),
    }

    # Teacher 1 was re-run (attempt 2) and finished after the students had started: both are stale now.
    started = session.get(Run, kd).started_at
    session.execute(
        update(Run).where(Run.id == t1).values(attempt=2, finished_at=started + timedelta(seconds=30))
    )
    session.commit()
    body = _get(api, "lineage", experiment_id=grid["experiment_id"])
    nodes = {n["id"]: n for n in body["nodes"]}
    assert body["stale"] == sorted([kd, xcl])
    assert f"teacher run {t1} (attempt 2) finished at" in nodes[kd]["stale_reasons"][0]
    assert {(e["source"], e["target"]) for e in body["edges"] if e["stale"]} == {(t1, kd), (t1, xcl)}
    assert not nodes[erm]["stale"] and not nodes[t1]["stale"]

    # A student in another experiment distilled from these teachers: they appear as external nodes.
    other = create_experiment(api, "elsewhere")["id"]
    spec = {"task": "digits", "model": {"name": "small-cnn", "width": 0.25}, "method": {"name": "kd"}}
    student = api.post(
        "/api/v1/runs", json={"experiment_id": other, "spec": {**spec, "teachers": [t0, t1]}}
    ).json()["id"]
    body = _get(api, "lineage", experiment_id=other)
    nodes = {n["id"]: n for n in body["nodes"]}
    assert nodes[t0]["external"] and nodes[t1]["external"] and not nodes[student]["external"]
    assert {(e["source"], e["target"]) for e in body["edges"]} == {(t0, student), (t1, student)}
    assert body["stale"] == []  # the student has not started yet


# ------------------------------------------------------------ cost


def test_cost_per_run_per_grid_and_gain_per_hour(api: TestClient, session: Session) -> None:
    grid, cells = _grid(
        api,
        {
            "name": "cost",
            "queue": "gpu",
            "teachers": TEACHERS,
            "students": {
                "models": [{"name": "small-cnn", "width": 0.5}],
                "seeds": [0, 1],
                "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
            },
        },
    )
    _finish_teachers(api, cells)  # 2 x 7200 s
    for seed, top1 in enumerate((90.0, 92.0)):
        finish(
            api,
            cells[f"student/erm/small-cnn@0.5/seed={seed}"],
            metrics={"test_top1": top1, "wall_time_s": 1800.0},
        )
    kd0, kd1 = cells["student/kd/small-cnn@0.5/seed=0"], cells["student/kd/small-cnn@0.5/seed=1"]
    finish(api, kd0, metrics={"test_top1": 94.0, "wall_time_s": 3600.0})
    finish(api, kd1, metrics={"test_top1": 94.0})  # no wall_time_s: its timestamps count
    start = datetime(2025, 1, 1, tzinfo=UTC)
    session.execute(
        update(Run).where(Run.id == kd1).values(started_at=start, finished_at=start + timedelta(seconds=5400))
    )
    session.commit()

    body = _get(api, "cost", grid_id=grid["id"])
    runs = {r["run_id"]: r for r in body["runs"]}
    assert (
        runs[kd0]["device"] == "gpu"
        and runs[kd0]["gpu_seconds"] == 3600.0
        and runs[kd0]["cpu_seconds"] == 0.0
    )
    assert runs[kd0]["source"] == "wall_time_s"
    assert runs[kd1]["seconds"] == 5400.0 and runs[kd1]["source"] == "timestamps"
    total = 2 * 7200 + 2 * 1800 + 3600 + 5400
    assert body["grids"] == [
        {
            "grid_id": grid["id"],
            "grid": "cost",
            "runs": 6,
            "cpu_seconds": 0.0,
            "gpu_seconds": total,
            "cpu_hours": 0.0,
            "gpu_hours": total / 3600,
        }
    ]
    assert body["total"]["gpu_seconds"] == total
    methods = {m["method"]: m for m in body["methods"]}
    # kd: 94 - ERM 91 = +3 points over a mean of 1.25 GPU-hours per run, plus its share of the two teachers
    # (2 x 2 h, shared by the two kd students: 2 h each), which ERM does not need.
    kd = methods["kd"]
    assert kd["erm_mean"] == 91.0 and kd["gain"] == 3.0 and kd["unit"] == "gpu-hour"
    assert kd["hours_per_run"] == pytest.approx(1.25) and kd["total_hours"] == pytest.approx(2.5)
    assert kd["dependency_hours_per_run"] == pytest.approx(2.0)
    assert kd["charged_hours_per_run"] == pytest.approx(3.25)
    assert kd["gain_per_hour"] == pytest.approx(3.0 / 3.25)
    assert methods["erm"]["gain"] == 0.0 and methods["erm"]["gain_per_hour"] == 0.0
    assert methods["erm"]["dependency_hours_per_run"] == 0.0


def test_cost_on_cpu_runs_and_error_metrics(api: TestClient) -> None:
    grid, cells = _grid(
        api,
        {
            "name": "cost-gaze",
            "task": "synthetic-gaze",
            "teachers": [{"name": "ens", "members": 1, "model": {"name": "preact-resnet9", "width": 0.125}}],
            "students": {
                "models": [{"name": "lenet", "width": 0.5}],
                "methods": [{"name": "erm"}, {"name": "xcl-mix", "teachers": "ens"}],
            },
        },
    )
    finish(api, cells["teacher/ens/0"], metrics={"test_angular_error": 4.0, "wall_time_s": 600.0})
    finish(
        api, cells["student/erm/lenet@0.5/seed=0"], metrics={"test_angular_error": 8.0, "wall_time_s": 360.0}
    )
    xcl = cells["student/xcl-mix/lenet@0.5/seed=0"]
    finish(api, xcl, metrics={"test_angular_error": 6.5, "wall_time_s": 720.0})
    body = _get(api, "cost", experiment_id=grid["experiment_id"])
    assert body["total"] == {
        "runs": 3,
        "cpu_seconds": 1680.0,
        "gpu_seconds": 0.0,
        "cpu_hours": 1680 / 3600,
        "gpu_hours": 0.0,
    }
    xcl_row = next(m for m in body["methods"] if m["method"] == "xcl-mix")
    # 1.5 degrees less error than ERM over 0.2 CPU-hours of its own and the teacher's 600 s.
    assert (
        xcl_row["unit"] == "cpu-hour"
        and xcl_row["gain"] == 1.5
        and xcl_row["gain_per_hour"] == pytest.approx(1.5 / (0.2 + 600 / 3600))
    )


def test_cost_leaves_the_rate_of_runs_under_a_minute_empty(api: TestClient) -> None:
    grid, cells = _grid(
        api,
        {
            "name": "cost-short",
            "students": {"models": [{"name": "small-cnn", "width": 0.5}], "methods": [{"name": "erm"}]},
        },
    )
    finish(api, cells["student/erm/small-cnn@0.5/seed=0"], metrics={"test_top1": 50.0, "wall_time_s": 6.0})
    [erm] = _get(api, "cost", grid_id=grid["id"])["methods"]
    assert erm["gain"] == 0.0 and erm["hours_per_run"] == pytest.approx(6 / 3600)
    assert erm["gain_per_hour"] is None  # not 0 / 0.0017 h, and never a gain divided by ~0


# ------------------------------------------------------------ errors and query counts


def test_scope_errors(api: TestClient) -> None:
    for view in ("gap", "entropy", "student-size", "lineage", "cost"):
        missing = api.get(f"/api/v1/analytics/{view}")
        assert missing.status_code == 422
        assert {tuple(e["loc"]) for e in missing.json()["detail"]} == {
            ("query", "grid_id"),
            ("query", "experiment_id"),
        }
        assert api.get(f"/api/v1/analytics/{view}", params={"grid_id": 999}).status_code == 404
        unknown = api.get(f"/api/v1/analytics/{view}", params={"experiment_id": 999})
        assert unknown.status_code == 404 and unknown.json()["detail"] == "experiment 999 not found"
    both = api.get("/api/v1/analytics/gap", params={"grid_id": 1, "experiment_id": 1})
    assert both.status_code == 422 and both.json()["detail"][0]["loc"] == ["query", "experiment_id"]
    assert api.get("/api/v1/analytics/gap", params={"grid_id": "x"}).status_code == 422


def test_views_read_in_a_few_queries_whatever_the_number_of_runs(api: TestClient) -> None:
    counts: dict[int, dict[str, int]] = {}
    statements: list[str] = []

    def count(*args: Any) -> None:
        # The API's background tasks (planner statistics twice a second on PostgreSQL, the stale-run sweep) share the
        # engine and run in the event loop's default executor; a request's handler runs in an AnyIO worker.
        if not threading.current_thread().name.startswith("asyncio_"):
            statements.append(args[2])

    for seeds in ([0], [0, 1, 2, 3]):
        grid, cells = _grid(
            api,
            {
                "name": f"queries-{len(seeds)}",
                "teachers": TEACHERS,
                "students": {
                    "models": [{"name": "small-cnn", "width": 0.5}],
                    "seeds": seeds,
                    "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
                },
            },
        )
        _finish_teachers(api, cells)
        for key, run_id in cells.items():
            if key.startswith("student/"):
                finish(
                    api, run_id, metrics={"test_top1": 90.0, "h_hat": 10.0, "params": 1.0, "wall_time_s": 1.0}
                )
        engine = api.app.state.engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", count)
        try:
            counts[len(seeds)] = {}
            for view in ("gap", "entropy", "student-size", "lineage", "cost"):
                for scope in ({"grid_id": grid["id"]}, {"experiment_id": grid["experiment_id"]}):
                    statements.clear()
                    _get(api, view, **scope)
                    counts[len(seeds)][f"{view} {scope}"] = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert 1 <= min(counts[1].values()) and max(counts[1].values()) <= 6, counts[1]
    assert list(counts[4].values()) == list(counts[1].values())  # no query per run

"""The grid report's statistics over HTTP, on SQLite and PostgreSQL: intervals, paired comparisons, McNemar on
stored predictions, per-ensemble rows, the KD reference chosen on validation, and the gap-reduction rule."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

SEEDS = [0, 1, 2, 3]


def _grid(teachers: list[str], methods: list[dict]) -> dict:
    return {
        "name": "stats",
        "task": "digits",
        "epochs": 2,
        "teachers": [{"name": n, "members": 1, "model": {"name": "small-cnn"}} for n in teachers],
        "students": {"models": [{"name": "small-cnn", "width": 0.5}], "seeds": SEEDS, "methods": methods},
    }


def _finish(api: TestClient, run_id: int, metrics: dict[str, float], predictions: dict | None = None) -> None:
    """Claim, log, (upload per-sample test predictions, as the engine does,) finish: a final run is immutable."""
    assert api.post(f"/api/v1/runs/{run_id}/claim", json={"worker_host": "t"}).status_code == 200
    points = [{"key": k, "step": 1, "value": v} for k, v in metrics.items()]
    assert api.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points}).status_code < 300
    if predictions is not None:
        body = json.dumps(predictions).encode()
        response = api.put(f"/api/v1/runs/{run_id}/artifacts/predictions/test.json", content=body)
        assert response.status_code < 300, response.text
    assert api.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded"}).status_code == 200


def _submit(api: TestClient, definition: dict) -> dict[str, int]:
    response = api.post("/api/v1/grids", json={"definition": definition})
    assert response.status_code == 201, response.text
    grid = response.json()
    return {"grid": grid["id"], **{c["key"]: c["run_id"] for c in grid["cells"]}}


def _students(
    api: TestClient, cells: dict[str, int], label: str, values: list[float], **extra: float
) -> None:
    for seed, value in zip(SEEDS, values, strict=True):
        _finish(api, cells[f"student/{label}/small-cnn@0.5/seed={seed}"], {"test_top1": value, **extra})


def _teachers(api: TestClient, cells: dict[str, int]) -> None:
    for key, run_id in cells.items():
        if key.startswith("teacher/"):
            _finish(api, run_id, {"test_top1": 99.0})


def test_rows_carry_intervals_and_paired_comparisons_with_kd_and_erm(api: TestClient) -> None:
    methods = [{"name": "erm"}, {"name": "kd", "teachers": "ens"}, {"name": "xcl-mix", "teachers": "ens"}]
    cells = _submit(api, _grid(["ens"], methods))
    _teachers(api, cells)
    _students(api, cells, "erm", [90.0, 91.0, 90.5, 91.5])
    _students(api, cells, "kd", [91.0, 91.0, 92.0, 91.0], teacher_test_top1=95.0)
    _students(api, cells, "xcl-mix", [93.0, 92.0, 93.5, 94.0], teacher_test_top1=95.0)
    report = api.get(f"/api/v1/grids/{cells['grid']}/report").json()
    rows = {r["method"]: r for r in report["rows"]}
    xcl = rows["xcl-mix"]
    assert xcl["ensemble"] == "ens" and rows["erm"]["ensemble"] is None
    # mean 93.125, sd 0.8539..., t(0.975, 3) = 3.1824463052837078
    assert xcl["mean"] == pytest.approx(93.125)
    half = 3.1824463052837078 * 0.8539125638299665 / 2
    assert (xcl["ci_low"], xcl["ci_high"]) == (pytest.approx(93.125 - half), pytest.approx(93.125 + half))
    vs = {c["baseline"]: c for c in xcl["comparisons"]}
    # differences vs KD: 2, 1, 1.5, 3 -> mean 1.875, all positive: sign p = 2 / 16
    assert vs["kd"]["mean"] == pytest.approx(1.875) and (vs["kd"]["better"], vs["kd"]["n"]) == (4, 4)
    assert vs["kd"]["sign_p_value"] == pytest.approx(0.125) and vs["kd"]["significant"]
    assert vs["kd"]["baseline_group"] == "student/kd/small-cnn@0.5"
    # scipy.stats.ttest_1samp([2, 1, 1.5, 3], 0).pvalue
    assert vs["kd"]["t_p_value"] == pytest.approx(0.021875398782757818, rel=1e-9)
    assert vs["erm"]["mean"] == pytest.approx(93.125 - 90.75)
    # KD vs ERM: +1, 0, +1.5, -0.5 -> the interval covers 0
    kd_vs_erm = next(c for c in rows["kd"]["comparisons"] if c["baseline"] == "erm")
    assert not kd_vs_erm["significant"] and (kd_vs_erm["better"], kd_vs_erm["worse"]) == (2, 1)
    assert [c["baseline"] for c in rows["kd"]["comparisons"]] == ["erm"]  # never against itself
    # The KD gap (95 - 91.25, interval above 0) makes the gap reduction meaningful.
    assert xcl["gap"] == pytest.approx(1.875)
    assert xcl["gap_reduction_vs_kd"] == pytest.approx(100 * (3.75 - 1.875) / 3.75)
    assert xcl["gap_reduction_ci_low"] <= xcl["gap_reduction_vs_kd"] <= xcl["gap_reduction_ci_high"]
    assert "kd (the only KD row; nothing selected)" in report["kd_selection"]

    markdown = api.get(f"/api/v1/grids/{cells['grid']}/report", params={"format": "markdown"}).text
    assert "| xcl-mix − kd | +1.88 | " in markdown and "| 4/4 | 0.125 |" in markdown
    assert "| kd − erm | +0.50 |" in markdown and markdown.count("n.s.") >= 1
    assert "never on test" in markdown
    latex = api.get(f"/api/v1/grids/{cells['grid']}/report", params={"format": "latex"}).text
    assert latex.count(r"\begin{tabular}") == 2 and r"$\Delta$" in latex
    chosen = api.get(
        f"/api/v1/grids/{cells['grid']}/report", params={"format": "json", "baseline": ["erm"]}
    ).json()
    assert {c["baseline"] for r in chosen["rows"] for c in r["comparisons"]} == {"erm"}


def test_an_unknown_baseline_is_a_422_naming_the_choices(api: TestClient) -> None:
    cells = _submit(api, _grid(["ens"], [{"name": "erm"}, {"name": "kd", "teachers": "ens"}]))
    response = api.get(f"/api/v1/grids/{cells['grid']}/report", params={"baseline": "mixup"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "baseline"] and "'kd' or one of: erm, kd" in error["msg"]


def test_no_gap_reduction_where_the_kd_gap_is_not_above_zero(api: TestClient) -> None:
    methods = [{"name": "kd", "teachers": "ens"}, {"name": "xcl-mix", "teachers": "ens"}]
    cells = _submit(api, _grid(["ens"], methods))
    _teachers(api, cells)
    _students(api, cells, "kd", [95.5, 94.0, 96.0, 94.2], teacher_test_top1=95.0)  # gap CI covers 0
    _students(api, cells, "xcl-mix", [95.0, 95.0, 95.0, 95.0], teacher_test_top1=95.0)
    rows = {r["method"]: r for r in api.get(f"/api/v1/grids/{cells['grid']}/report").json()["rows"]}
    assert rows["kd"]["gap_ci_low"] < 0 < rows["kd"]["gap_ci_high"]
    assert rows["xcl-mix"]["gap_reduction_vs_kd"] is None and rows["xcl-mix"]["kd_reference"]


def test_students_of_different_ensembles_are_never_pooled(api: TestClient) -> None:
    methods = [{"name": "erm"}, {"name": "kd", "teachers": "big"}, {"name": "kd", "teachers": "small"}]
    cells = _submit(api, _grid(["big", "small"], methods))
    _teachers(api, cells)
    _students(api, cells, "erm", [90.0] * 4)
    _students(api, cells, "kd[teachers=big]", [94.0, 94.0, 95.0, 95.0], teacher_test_top1=98.0)
    _students(api, cells, "kd[teachers=small]", [92.0, 92.5, 92.0, 92.5], teacher_test_top1=93.0)
    report = api.get(f"/api/v1/grids/{cells['grid']}/report").json()
    rows = {r["ensemble"]: r for r in report["rows"]}
    assert rows["big"]["n"] == rows["small"]["n"] == 4
    assert rows["big"]["gap"] == pytest.approx(98.0 - 94.5) and rows["small"]["gap"] == pytest.approx(0.75)
    assert report["ensemble_score"] is None  # two ensembles: no single score
    assert {t["ensemble"]: t["score"] for t in report["teachers"]} == {"big": 98.0, "small": 93.0}
    assert rows[None]["gap"] is None  # ERM has no teachers of its own here
    markdown = api.get(f"/api/v1/grids/{cells['grid']}/report", params={"format": "markdown"}).text
    assert "| kd[teachers=big] (big) | small-cnn@0.5 | big | 4/4 |" in markdown


def test_kd_reference_is_chosen_on_validation_not_test(api: TestClient) -> None:
    methods = [
        {"name": "kd", "teachers": "ens", "temperature": [1.0, 4.0]},
        {"name": "xcl-mix", "teachers": "ens"},
    ]
    cells = _submit(api, _grid(["ens"], methods))
    _teachers(api, cells)
    # T = 1 is better on test, T = 4 on validation: the reference must be T = 4.
    _students(api, cells, "kd[temperature=1]", [93.0] * 4, teacher_test_top1=96.0, val_top1=90.0)
    _students(api, cells, "kd[temperature=4]", [92.0] * 4, teacher_test_top1=96.0, val_top1=91.0)
    _students(api, cells, "xcl-mix", [94.0] * 4, teacher_test_top1=96.0, val_top1=92.0)
    report = api.get(f"/api/v1/grids/{cells['grid']}/report").json()
    rows = {r["method"]: r for r in report["rows"]}
    assert rows["xcl-mix"]["kd_reference"] == "student/kd[temperature=4]/small-cnn@0.5"
    [vs_kd] = [c for c in rows["xcl-mix"]["comparisons"] if c["baseline"] == "kd"]
    assert vs_kd["mean"] == pytest.approx(2.0)
    assert rows["kd[temperature=4]"]["val_mean"] == 91.0
    assert "kd[temperature=4], best mean val_top1 on the validation split" in report["kd_selection"]
    # Asking for the reference twice (as 'kd' and by its label) compares once.
    params = {"baseline": ["kd", "kd[temperature=4]", "kd[temperature=1]"]}
    twice = api.get(f"/api/v1/grids/{cells['grid']}/report", params=params).json()
    [xcl] = [r for r in twice["rows"] if r["method"] == "xcl-mix"]
    assert [c["baseline"] for c in xcl["comparisons"]] == ["kd", "kd[temperature=1]"]


def test_mcnemar_pools_stored_test_predictions(api: TestClient) -> None:
    methods = [{"name": "kd", "teachers": "ens"}, {"name": "xcl-mix", "teachers": "ens"}]
    cells = _submit(api, _grid(["ens"], methods))
    _teachers(api, cells)
    targets = [0, 1, 2, 3]
    for label, value, predictions in (("kd", 50.0, [0, 1, 9, 9]), ("xcl-mix", 75.0, [0, 1, 2, 9])):
        for seed in SEEDS:  # seed 3 stores no predictions: it is left out of McNemar
            stored = {"targets": targets, "predictions": predictions} if seed != 3 else None
            metrics = {"test_top1": value, "teacher_test_top1": 90.0}
            _finish(api, cells[f"student/{label}/small-cnn@0.5/seed={seed}"], metrics, stored)
    rows = {r["method"]: r for r in api.get(f"/api/v1/grids/{cells['grid']}/report").json()["rows"]}
    [vs_kd] = rows["xcl-mix"]["comparisons"]
    assert (vs_kd["mcnemar_only_row"], vs_kd["mcnemar_only_baseline"], vs_kd["mcnemar_seeds"]) == (3, 0, 3)
    assert vs_kd["mcnemar_p_value"] == pytest.approx(0.25)  # binomtest(0, 3): 2 / 8

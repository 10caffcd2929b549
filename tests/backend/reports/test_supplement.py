"""Every built-in supplement grid's tables over HTTP, from run rows created through the API (the built-in
definition with 2 seeds and 1-member ensembles; lifecycles played with known metrics, no training), so each cell
is known: rows and columns as the supplement prints them, paired intervals and 'n.s.', '–' for cells not run,
the paper's numbers beside ours."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.reports.supplement import LAYOUTS
from tests.factories import finish, make_grid
from xclab.grids import builtin_grids, load_grid_text

SEEDS = [0, 1]
BASE = {"erm": 70.0, "ls": 71.0, "mixup": 71.5, "cutmix": 72.0, "kd": 73.0, "xcl-mix": 75.0, "xcl-gan": 74.0}


def shrunk(name: str) -> dict[str, Any]:
    """The built-in grid with 2 seeds and 1-member ensembles: the same rows and columns, fewer runs."""
    grid = load_grid_text(builtin_grids()[name])
    for teacher in grid.get("teachers", []):
        teacher["members"] = 1
    grid["students"]["seeds"] = SEEDS
    return grid


def student_metrics(key: str, ensembles: list[str]) -> dict[str, float]:
    """Known values: a base per method, +0.2·T, +5·width, +0.3·seed; LS at ε = 0.8 alternates around ERM (not
    significant); ensemble k scores 80 + k and adds k / 2 to its students."""
    _, label, model, seed_part = key.split("/")
    seed = int(seed_part.removeprefix("seed="))
    method = next(m for m in sorted(BASE, key=len, reverse=True) if label.startswith(m))
    params = dict(re.findall(r"(\w+)=([\w.-]+)", label.partition("[")[2]))
    ensemble = params.get("teachers") or (ensembles[0] if method in ("kd", "xcl-mix") and ensembles else None)
    top1 = (
        BASE[method] + 0.2 * float(params.get("temperature", 0)) + 5 * float(model.split("@")[1]) + 0.3 * seed
    )
    if params.get("epsilon") == "0.8":
        top1 = BASE["erm"] + 5 * float(model.split("@")[1]) + 0.3 * seed + (0.5 if seed == 0 else -0.6)
    metrics = {
        "test_top1": top1,
        "val_top1": top1 - 1,
        "test_top5": top1 + 15,
        "params": 1e6,
    }
    metrics["imagenetv2_matched_frequency_top1"] = top1 - 12
    metrics["imagenetv2_threshold_0.7_top1"] = top1 - 3
    if ensemble is not None:
        k = ensembles.index(ensemble)
        metrics.update({"teacher_test_top1": 80.0 + k, "h_hat": 20.0 + k, "test_top1": top1 + k / 2})
    elif method == "ls":
        metrics["h_hat"] = 100 * float(params.get("epsilon", 0.1))
    return metrics


def play(api: TestClient, name: str) -> int:
    """Submit the shrunk grid; finish teachers, then students (generators never: their students stay waiting)."""
    definition = shrunk(name)
    ensembles = [t["name"] for t in definition.get("teachers", [])]
    grid, cells = make_grid(api, definition)
    for key, run_id in cells.items():
        if key.startswith("teacher/"):
            finish(api, run_id, metrics={"test_top1": 80.0 + ensembles.index(key.split("/")[1])})
    waiting = {
        c["key"] for c in api.get(f"/api/v1/grids/{grid['id']}").json()["cells"] if c["status"] == "waiting"
    }
    for key, run_id in cells.items():
        if key.startswith("student/") and key not in waiting:
            finish(api, run_id, metrics=student_metrics(key, ensembles))
    return grid["id"]


def tables_of(api: TestClient, grid_id: int) -> dict[str, dict[str, dict[str, str]]]:
    """table key -> row label -> column header -> cell."""
    response = api.get(f"/api/v1/grids/{grid_id}/tables")
    assert response.status_code == 200, response.text
    body = response.json()
    return {
        t["key"]: {row[0]: dict(zip(t["columns"][1:], row[1:], strict=True)) for row in t["rows"]}
        for t in body["tables"]
    }


def test_every_layout_fills_every_row_from_its_grid(api: TestClient) -> None:
    for name, specs in LAYOUTS.items():
        grid_id = play(api, name)
        body = api.get(f"/api/v1/grids/{grid_id}/tables").json()
        assert body["layout"] == name and len(body["tables"]) == len(specs)
        for table in body["tables"]:
            ours = table["columns"][1]  # the first of our columns
            filled = [row[0] for row in table["rows"] if row[1] != "–" or table["key"] == "methods"]
            assert filled, (name, table["key"])
            if table["key"] != "methods":  # every row of the supplement's tables is run by its grid
                assert table["rows_with_runs"] == len(table["rows"]), (
                    name,
                    table["key"],
                    ours,
                    table["rows"],
                )
        markdown = api.get(f"/api/v1/grids/{grid_id}/report", params={"format": "supplement"})
        assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
        assert all(f"**{t['title']}**" in markdown.text for t in body["tables"])


def test_teacher_ablation_table(api: TestClient) -> None:
    table = tables_of(api, play(api, "cifar100-teacher-ablation"))["table2"]
    assert list(table) == ["ResNet-18", "+LS ε=0.1", "+MixUp", "+CutMix", "Pyr.+CutMix"]
    cutmix = table["+CutMix"]  # ensemble 3: teacher 83, students + 1.5
    assert cutmix["teacher top-1 (%)"] == "83.00" and cutmix["Ĥ (%)"] == "23.0"
    assert cutmix["XCL-Mix student top-1 (%)"] == "81.65 ± 0.21"  # 75 + 5 + 1.5 + (0, 0.3)
    assert cutmix["KD student top-1 (%)"] == "79.65 ± 0.21"
    assert cutmix["XCL-Mix − KD (points) [95 % CI]"] == "+2.00 [+2.00, +2.00] 2/2"
    # gaps 1.35 (XCL) and 3.35 (KD) -> (3.35 - 1.35) / 3.35 = 60 %
    assert cutmix["gap red. vs KD [95 % CI]"].startswith("+60 %")
    assert cutmix["paper (CIFAR-100 ResNet-18) student top-1 (%)"] == "83.1 ± 0.2"
    assert table["Pyr.+CutMix"]["paper (CIFAR-100 ResNet-18) teacher top-1 (%)"] == "87.5"


def test_label_smoothing_and_temperature_tables(api: TestClient) -> None:
    ls = tables_of(api, play(api, "cifar100-label-smoothing"))["table3"]
    assert list(ls) == ["0 (ERM)", "0.1", "0.18", "0.4", "0.8"]
    assert ls["0.1"]["top-1 (%)"] == "76.15 ± 0.21" and ls["0.1"]["Ĥ (%)"] == "10.0"
    assert ls["0.1"]["− ERM (points) [95 % CI]"] == "+1.00 [+1.00, +1.00] 2/2"
    assert ls["0.8"]["− ERM (points) [95 % CI]"].endswith("1/2 n.s.")  # +0.5 and -0.6
    assert ls["0 (ERM)"]["− ERM (points) [95 % CI]"] == "–"
    assert ls["0.4"]["paper (CIFAR-100 ResNet-18) Ĥ (%)"] == "54.5"

    tables = tables_of(api, play(api, "cifar100-temperature"))
    kd, xcl = tables["table4"], tables["table5"]
    assert list(kd) == ["1", "1.5", "2", "5", "10 †"]  # best mean val_top1: T = 10
    assert kd["5"]["− KD T=1 (points) [95 % CI]"] == "+0.80 [+0.80, +0.80] 2/2"
    assert xcl["2"]["− KD same T (points) [95 % CI]"] == "+2.00 [+2.00, +2.00] 2/2"
    assert xcl["2"]["− KD reference (points) [95 % CI]"] == "+0.40 [+0.40, +0.40] 2/2"
    assert xcl["1"]["paper (CIFAR-100 ResNet-18) top-1 (%)"] == "83.1 ± 0.2"


def test_student_size_and_imagenet_tables(api: TestClient) -> None:
    size = tables_of(api, play(api, "digits-student-size"))
    assert set(size) == {"figure1a", "figure1b"}
    row = size["figure1b"]["×2"]  # error = 100 - (base + 10 + 0.3 seed)
    assert row["ERM error (%)"] == "19.85 ± 0.21" and row["XCL-Mix error (%)"] == "14.85 ± 0.21"
    assert row["params (M)"] == "1.000"
    assert row["XCL-Mix − KD top-1 (points) [95 % CI]"] == "+2.00 [+2.00, +2.00] 2/2"

    tables = tables_of(api, play(api, "imagenet-resnet50"))
    r50, r101 = tables["table1-resnet50"], tables["table1-resnet101"]
    assert list(r50) == list(r101) == ["ERM", "+MixUp", "+CutMix", "KD", "XCL-Mix"]
    xcl = r50["XCL-Mix"]  # 75 + 5 + (0, 0.3); teacher 80
    assert xcl["val top-1 (%)"] == "80.15 ± 0.21" and xcl["paper val top-1"] == "80.0"
    assert xcl["val top-5 (%)"] == "95.15 ± 0.21"
    assert xcl["V2 matched-frequency top-1"] == "68.15 ± 0.21" and xcl["paper V2-B"] == "68.2"
    assert xcl["V2 threshold-0.7 top-1"] == "77.15 ± 0.21" and xcl["paper V2-A"] == "77.2"
    assert xcl["V2 top-images top-1"] == "–"  # no run logged it: not run, never a made-up number
    assert xcl["paper gap"] == "1.6 (−33 %)" and r101["XCL-Mix"]["paper val top-1"] == "–"


def test_cells_not_run_read_a_dash_and_unknown_layouts_are_refused(api: TestClient) -> None:
    methods = tables_of(api, play(api, "cifar100-resnet18"))["methods"]
    assert methods["XCL-GAN"]["top-1 (%)"] == "–"  # its generator never finished
    assert methods["KD"]["paper (CIFAR-100 ResNet-18) top-1 (%)"] == "80.0 ± 0.2 (T=1)"
    grid, _ = make_grid(api, {**shrunk("cifar100-label-smoothing"), "name": "my-ls"})
    assert api.get(f"/api/v1/grids/{grid['id']}/tables").json()["tables"] == []
    as_text = api.get(f"/api/v1/grids/{grid['id']}/report", params={"format": "supplement"})
    assert as_text.status_code == 422 and as_text.json()["detail"][0]["loc"] == ["query", "format"]
    assert "cifar100-label-smoothing" in as_text.json()["detail"][0]["msg"]
    laid = api.get(f"/api/v1/grids/{grid['id']}/tables", params={"layout": "cifar100-label-smoothing"}).json()
    assert [t["key"] for t in laid["tables"]] == ["table3"] and laid["tables"][0]["rows_with_runs"] == 0
    bad = api.get(f"/api/v1/grids/{grid['id']}/tables", params={"layout": "nope"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "layout"]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_names_a_builtin_grid(name: str) -> None:
    assert name in builtin_grids()

"""Built-in supplement grids end to end on their own data formats: tiny CIFAR-100 pickles and an ImageNet folder
tree with the three ImageNetV2 folders, each grid shrunk (1 epoch, 1-member ensembles, 2 seeds, narrow models,
tiny images) and trained by a real worker, then laid out as the supplement's tables through the API and the
`xclab grid report --format supplement` command. The numbers are noise; the path from runs to tables is real."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import xclab
from tests.support import Stack
from tests.worker.training.data.test_cifar100 import write_cifar
from tests.worker.training.data.test_imagenetv2 import write_data as write_imagenet
from worker.training.data.imagenet import V2_VARIANTS
from xclab.grids import builtin_grids, load_grid_text

SEEDS = [0, 1]
SCALABLE = {"resnet18-cifar", "binary-resnet18", "small-cnn", "pyramidnet"}


def tiny_model(model: dict[str, Any]) -> dict[str, Any]:
    if model["name"] == "pyramidnet":  # the smallest basic-block PyramidNet
        return {**model, "options": {"depth": 8, "alpha": 12}, "width": 0.25}
    return {**model, "width": 0.125} if model["name"] in SCALABLE else model


def shrunk(name: str, data_root: Path, **overrides: Any) -> dict[str, Any]:
    """The built-in grid, same rows and columns, sized for a CPU test: 1 epoch, 1-member ensembles, 2 seeds."""
    grid = load_grid_text(builtin_grids()[name])
    grid["epochs"] = 1
    grid["overrides"] = {
        **grid.get("overrides", {}),
        "data_root": str(data_root),
        "batch_size": 8,
        "workers": 0,
        "checkpoint_every": 1,
        **overrides,
    }
    for teacher in grid.get("teachers", []):
        teacher.update(members=1, model=tiny_model(teacher["model"]))
        teacher.pop("epochs", None)
    students = grid["students"]
    students.update(seeds=SEEDS, models=[tiny_model(m) for m in students["models"]])
    students.pop("epochs", None)
    return grid


def run_grid(stack: Stack, definition: dict[str, Any], timeout: float, artifacts: Path) -> dict[str, Any]:
    """Submit, wait for every cell, leave the tables in Markdown as evidence (docs/supplement-grids.md quotes
    them), and answer the tables' JSON."""
    with stack.client() as client:
        response = client.post("/grids", json={"definition": definition})
        assert response.status_code == 201, response.text
        grid_id = response.json()["id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            grid = client.get(f"/grids/{grid_id}").json()
            if grid["done"]:
                break
            time.sleep(1)
        else:
            raise AssertionError(f"grid {definition['name']} not done in {timeout} s: {grid['counts']}")
        failed = [(c["key"], c["error"]) for c in grid["cells"] if c["status"] != "succeeded"]
        assert not failed, f"{failed}\n{stack.logs()}"
        text = client.get(f"/grids/{grid_id}/report", params={"format": "supplement"}).text
        (artifacts / f"supplement-{definition['name']}.md").write_text(text)
        return client.get(f"/grids/{grid_id}/tables").json()


def cells(table: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        row[0].removesuffix(" †"): dict(zip(table["columns"][1:], row[1:], strict=True))
        for row in table["rows"]
    }


def test_cifar100_temperature_grid_renders_tables_4_and_5(
    live_stack: Stack, tmp_path: Path, artifacts_dir: Path
) -> None:
    write_cifar(tmp_path / "cifar-100-python", n_train=48, n_test=24)
    body = run_grid(live_stack, shrunk("cifar100-temperature", tmp_path), 900, artifacts_dir)
    kd, xcl = body["tables"]
    assert (kd["key"], xcl["key"], kd["rows_with_runs"], xcl["rows_with_runs"]) == ("table4", "table5", 5, 5)
    for table in (kd, xcl):
        for label, row in cells(table).items():
            mean, _, std = row["top-1 (%)"].partition(" ± ")
            assert 0 <= float(mean) <= 100 and float(std) >= 0, (label, row)
            assert 0 <= float(row["Ĥ (%)"]) <= 100  # the runs logged their targets' entropy
    assert cells(kd)["1"]["paper (CIFAR-100 ResNet-18) top-1 (%)"] == "80.0 ± 0.2"
    assert cells(kd)["1"]["− KD T=1 (points) [95 % CI]"] == "–"  # itself
    assert cells(kd)["10"]["− KD T=1 (points) [95 % CI]"].startswith(("+", "-"))  # paired over both seeds
    assert "[" in cells(xcl)["1"]["− KD same T (points) [95 % CI]"]  # a paired interval over the 2 seeds


def test_imagenet_grid_reports_imagenetv2_beside_top1(
    live_stack: Stack, tmp_path: Path, artifacts_dir: Path
) -> None:
    write_imagenet(tmp_path, list(V2_VARIANTS.values()))
    # 12 images at lr 0.4 send a ResNet-101 to NaN within the epoch; a small constant rate keeps it finite.
    definition = shrunk("imagenet-resnet50", tmp_path, image_size=32, lr=0.01, warmup_start_lr=0.01)
    body = run_grid(live_stack, definition, 900, artifacts_dir)
    r50, r101 = (cells(t) for t in body["tables"])
    assert list(r50) == list(r101) == ["ERM", "+MixUp", "+CutMix", "KD", "XCL-Mix"]
    for table in (r50, r101):
        for row in table.values():
            for column in ("val top-1 (%)", "val top-5 (%)", *(f"V2 {v} top-1" for v in
                           ("matched-frequency", "threshold-0.7", "top-images"))):  # fmt: skip
                assert " ± " in row[column], (column, row)
    assert r50["XCL-Mix"]["paper V2-B"] == "68.2" and r101["XCL-Mix"]["paper V2-B"] == "–"
    assert "(n=" not in str(r50)  # every seed succeeded
    report = xclab(live_stack.env, "grid", "report", str(body["grid_id"]), "--format", "supplement")
    assert report.returncode == 0, report.stderr
    assert "Table 1: ImageNet, ResNet-50 students, with ImageNetV2" in report.stdout
    assert "V2 matched-frequency top-1" in report.stdout


@pytest.mark.parametrize("name", ["cifar100-teacher-ablation", "cifar100-label-smoothing"])
def test_cifar100_grid_fills_every_row_of_its_table(
    live_stack: Stack, tmp_path: Path, artifacts_dir: Path, name: str
) -> None:
    """Table 2 (five ensembles, PyramidNet included, each teaching XCL-Mix and KD students) and Table 3."""
    write_cifar(tmp_path / "cifar-100-python", n_train=48, n_test=24)
    [table] = run_grid(live_stack, shrunk(name, tmp_path), 900, artifacts_dir)["tables"]
    assert table["rows_with_runs"] == len(table["rows"]) == 5
    ours = "XCL-Mix student top-1 (%)" if name.endswith("ablation") else "top-1 (%)"
    for label, row in cells(table).items():
        assert " ± " in row[ours] and "(n=" not in row[ours], (label, row)
        assert 0 <= float(row["Ĥ (%)"]) <= 100
    if name.endswith("ablation"):
        for label, row in cells(table).items():  # each ensemble measured by its own students
            assert 0 <= float(row["teacher top-1 (%)"]) <= 100 and " ± " in row["KD student top-1 (%)"], label
            assert row["XCL-Mix − KD (points) [95 % CI]"].startswith(("+", "-")), label

"""`xclab grid ...`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import plain_env, xclab
from tests.support import Stack, start_stack


def test_grid_builtin_lists_the_paper_grids() -> None:
    result = xclab(plain_env(), "grid", "builtin")
    assert result.returncode == 0, result.stderr
    assert "digits-paper" in result.stdout and "synthetic-gaze-paper" in result.stdout


def test_grid_submit_names_an_unknown_builtin() -> None:
    result = xclab(plain_env(), "grid", "submit", "builtin:no-such-grid")
    assert result.returncode == 2
    assert "no built-in grid 'no-such-grid'" in result.stderr and "digits-paper" in result.stderr


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A live API without workers: the test plays the worker, so the metrics are the ones it sets."""
    stack = start_stack(tmp_path_factory.mktemp("api"))
    try:
        yield stack
    finally:
        stack.stop()


def _finished_grid(stack: Stack) -> int:
    definition = {
        "name": "cli-report",
        "task": "digits",
        "teachers": [{"name": "ens", "members": 1, "model": {"name": "small-cnn"}}],
        "students": {
            "models": [{"name": "small-cnn", "width": 0.5}],
            "seeds": [0, 1, 2],
            "methods": [
                {"name": "erm"},
                {"name": "kd", "teachers": "ens"},
                {"name": "xcl-mix", "teachers": "ens"},
            ],
        },
    }
    values = {"erm": [90.0, 91.0, 90.0], "kd": [91.0, 92.0, 91.5], "xcl-mix": [93.0, 93.5, 94.0]}
    with stack.client() as http:
        grid = http.post("/grids", json={"definition": definition}).json()
        for cell in grid["cells"]:
            role, label, *_ = cell["key"].split("/")
            seed = int(cell["key"].rsplit("=", 1)[1]) if role == "student" else 0
            metrics = {"test_top1": 99.0} if role == "teacher" else {"test_top1": values[label][seed]}
            if label in ("kd", "xcl-mix"):
                metrics["teacher_test_top1"] = 96.0
            http.post(f"/runs/{cell['run_id']}/claim", json={"worker_host": "t"}).raise_for_status()
            points = [{"key": k, "step": 1, "value": v} for k, v in metrics.items()]
            http.post(f"/runs/{cell['run_id']}/metrics", json={"metrics": points}).raise_for_status()
            http.post(f"/runs/{cell['run_id']}/finish", json={"status": "succeeded"}).raise_for_status()
    return grid["id"]


def test_grid_report_prints_intervals_and_paired_comparisons(api_only: Stack, tmp_path: Path) -> None:
    grid_id = str(_finished_grid(api_only))
    summary = xclab(api_only.env, "grid", "report", grid_id, "--format", "summary")
    assert summary.returncode == 0, summary.stderr
    # xcl-mix − kd: +2, +1.5, +2.5 -> mean +2.00; all three seeds better, exact sign test p = 2 / 8
    assert "xcl-mix − kd: +2.00 points, 95 % CI [+0.76, +3.24], 3/3 seeds better, sign-test p = 0.250" in (
        summary.stdout
    )
    assert "kd − erm: +1.17 points" in summary.stdout
    only_erm = xclab(api_only.env, "grid", "report", grid_id, "--format", "json", "--baseline", "erm")
    rows = json.loads(only_erm.stdout)["rows"]
    assert {c["baseline"] for r in rows for c in r["comparisons"]} == {"erm"}
    for fmt, marker in [
        ("markdown", "| xcl-mix − kd | +2.00 |"),
        ("latex", r"\begin{tabular}"),
        ("csv", "ci_low"),
    ]:
        out = tmp_path / f"report.{fmt}"
        result = xclab(api_only.env, "grid", "report", grid_id, "--format", fmt, "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert marker in out.read_text()
    bad = xclab(api_only.env, "grid", "report", grid_id, "--baseline", "mixup")
    assert bad.returncode != 0 and "baseline" in bad.stderr + bad.stdout


def test_grid_report_lays_a_builtin_grid_out_as_the_supplement_table(api_only: Stack, tmp_path: Path) -> None:
    """A grid named as the built-in label-smoothing grid, with only ERM and ε = 0.1 run: Table 3's rows, the
    paper's numbers beside ours, '–' where nothing ran."""
    definition = {
        "name": "digits-label-smoothing",
        "task": "digits",
        "students": {
            "models": [{"name": "small-cnn", "width": 0.5}],
            "seeds": [0, 1],
            "methods": [{"name": "erm"}, {"name": "ls", "epsilon": [0.1]}],
        },
    }
    values = {"erm": [90.0, 91.0], "ls[epsilon=0.1]": [91.0, 92.5]}
    with api_only.client() as http:
        grid = http.post("/grids", json={"definition": definition}).json()
        for cell in grid["cells"]:
            _, label, _, seed = cell["key"].split("/")
            value = values[label][int(seed.removeprefix("seed="))]
            http.post(f"/runs/{cell['run_id']}/claim", json={"worker_host": "t"}).raise_for_status()
            points = [{"key": "test_top1", "step": 1, "value": value}]
            http.post(f"/runs/{cell['run_id']}/metrics", json={"metrics": points}).raise_for_status()
            http.post(f"/runs/{cell['run_id']}/finish", json={"status": "succeeded"}).raise_for_status()
    out = tmp_path / "table3.md"
    result = xclab(
        api_only.env, "grid", "report", str(grid["id"]), "--format", "supplement", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "**Table 3: effect of label smoothing on ERM**" in text
    # ours 91.75 ± 1.06, paper 79.3 ± 0.3, LS − ERM by seed: +1 and +1.5 -> +1.25 [-1.93, +4.43], n.s.
    assert "| 0.1 | – | 17.0 | 91.75 ± 1.06 | 79.3 ± 0.3 | +1.25 [-1.93, +4.43] 2/2 n.s. |" in text
    assert "| 0.4 | – | 54.5 | – | 78.0 ± 0.3 | – |" in text

"""Grids page: a tiny trained grid's progress, cells and report; launching grids from YAML, good and bad."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from dashboard.grid_errors import error_lines
from dashboard.grid_progress import progress_bar_html, progress_segments
from tests.dashboard.conftest import APP, PARKED_QUEUE, OpenPage
from tests.support import Stack, free_port
from xclab.client import ApiError
from xclab.settings import get_settings

GRIDS_PAGE = "app_pages/grids.py"
FINAL = {"succeeded", "failed", "cancelled"}


def tiny_grid(name: str, **extra: Any) -> dict[str, Any]:
    """2 teachers + 2 methods x 2 seeds of students on 300 digits for 2 epochs: seconds on the live worker."""
    return {
        "name": name,
        "task": "digits",
        "epochs": 2,
        "overrides": {"train_subset": 300},
        "teachers": [{"name": "ens", "members": 2, "model": {"name": "small-cnn", "width": 0.5}}],
        "students": {
            "models": [{"name": "small-cnn", "width": 0.25}],
            "seeds": [0, 1],
            "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
        },
        **extra,
    }


def wait_for_grid(stack: Stack, grid_id: int, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with stack.client() as client:
        while time.monotonic() < deadline:
            grid = client.get(f"/grids/{grid_id}").json()
            if grid["done"]:
                return grid
            time.sleep(0.5)
    raise AssertionError(f"grid {grid_id} not done after {timeout} s: {grid['counts']}\n{stack.logs()}")


@pytest.fixture(scope="module")
def trained_grid(live_stack: Stack) -> dict[str, Any]:
    with live_stack.client() as client:
        response = client.post("/grids", json={"definition": tiny_grid("dash-grid")})
    assert response.status_code == 201, response.text
    grid = wait_for_grid(live_stack, response.json()["id"])
    assert grid["counts"] == {"succeeded": 6}, f"{grid['cells']}\n{live_stack.logs()}"
    return grid


def frame_with(at: AppTest, column: str) -> list[dict[str, Any]]:
    """The rows of the one dataframe that has this column."""
    [frame] = [d.value for d in at.dataframe if column in d.value.columns]
    return frame.to_dict("records")


def submit_yaml(at: AppTest, text: str) -> AppTest:
    at.text_area(key="grids_yaml").input(text)
    return at.button(key="grids_submit").click().run()


def test_trained_grid_shows_progress_cells_and_report(open_page: OpenPage, trained_grid: dict) -> None:
    at = open_page(GRIDS_PAGE, grid=str(trained_grid["id"]))
    assert not at.exception, at.exception
    assert at.selectbox(key="grids_selected").value == trained_grid["id"]
    assert at.subheader[0].value == f"Grid #{trained_grid['id']}: dash-grid · digits"
    assert not at.toggle  # a finished grid has nothing left to refresh
    assert any("6/6 cells finished" in m.value for m in at.markdown)
    [bar] = [m.value for m in at.markdown if "xcl-grid-progress" in m.value]
    assert bar.count("xcl-seg ") == 1 and 'title="succeeded: 6"' in bar and "width:100%" in bar
    assert any("succeeded 6" in m.value for m in at.markdown)

    cells = {row["key"]: row for row in frame_with(at, "role")}
    assert len(cells) == 6 and {row["status"] for row in cells.values()} == {"succeeded"}
    by_key = {c["key"]: c for c in trained_grid["cells"]}
    for key, row in cells.items():
        assert row["run"] == f"run?run={by_key[key]['run_id']}"
        assert row["value"] == by_key[key]["primary_metric"]
    assert {row["role"] for row in cells.values()} == {"teacher", "student"}
    assert not [b for b in at.button if b.key == "grids_retry"]  # nothing failed
    student = next(c for c in trained_grid["cells"] if c["role"] == "student")
    at.selectbox(key="grids_open_run").select(student["run_id"]).run()
    assert [link for link in at.page_link if link.proto.query_string == f"run={student['run_id']}"]

    report = frame_with(at, "gap red. vs KD")
    assert sorted(row["method"] for row in report) == ["erm", "kd"]
    assert {row["n"] for row in report} == {"2/2"}
    assert all(" ± " in row["mean ± std"] for row in report)
    kd = next(row for row in report if row["method"] == "kd")
    assert kd["teachers"] == "ens" and kd["95 % CI"].startswith("[")  # two seeds: a t-interval
    comparisons = {row["comparison"]: row for row in frame_with(at, "seeds better")}
    assert set(comparisons) == {"erm − kd", "kd − erm"}  # never a row against itself
    assert comparisons["kd − erm"]["seeds better"].endswith("/2")
    captions = " ".join(c.value for c in at.caption)
    assert "test_top1" in captions and "higher is better" in captions
    assert "teacher ensemble" in captions and "seeds 0, 1" in captions
    assert "last-epoch test metrics" in captions

    [chart] = at.get("plotly_chart")
    figure = json.loads(chart.proto.spec)
    assert figure["data"][0]["type"] == "bar"
    assert sorted(figure["data"][0]["x"]) == ["erm", "kd"]
    assert figure["layout"]["shapes"]  # the teacher ensemble's reference line
    assert figure["layout"]["yaxis"]["rangemode"] == "tozero"  # accuracy bars start at zero
    labels = {b.label for b in at.get("download_button")}
    assert {"Markdown", "LaTeX", "CSV", "Chart data (CSV)"} <= labels


def test_grid_list_is_newest_first_and_follows_the_url(
    open_page: OpenPage, trained_grid: dict, live_stack: Stack
) -> None:
    # A newer, teacher-only grid, parked: listed first, and with no students there is no report to draw.
    teachers_only = {
        "name": "dash-grid-teachers",
        "task": "digits",
        "queue": PARKED_QUEUE,
        "teachers": [{"name": "ens", "members": 1, "model": {"name": "small-cnn", "width": 0.5}}],
    }
    with live_stack.client() as client:
        newest = client.post("/grids", json={"definition": teachers_only}).json()
    at = open_page(GRIDS_PAGE)
    assert not at.exception, at.exception
    picker = at.selectbox(key="grids_selected")
    assert picker.value == newest["id"]
    assert picker.options[0] == f"#{newest['id']} dash-grid-teachers · digits · 0/1 finished"
    assert f"#{trained_grid['id']} dash-grid · digits · 6/6 finished" in picker.options
    assert "no student cells" in at.info[0].value

    picker.select(trained_grid["id"]).run()
    assert not at.exception, at.exception
    assert at.query_params["grid"] == str(trained_grid["id"])
    assert at.subheader[0].value.startswith(f"Grid #{trained_grid['id']}:")

    # A link to a grid that does not exist says so instead of quietly showing another one.
    for param in ("999999", "abc"):
        at = open_page(GRIDS_PAGE, grid=param)
        assert not at.exception, at.exception
        assert f"Grid {param} not found" in at.error[0].value


def test_builtin_grid_fills_the_editor_and_submitting_launches_it(
    open_page: OpenPage, live_stack: Stack
) -> None:
    at = open_page(GRIDS_PAGE)
    with live_stack.client() as client:
        builtins = {b["name"]: b["yaml"] for b in client.get("/grids/builtin").json()["data"]}
    assert at.selectbox(key="grids_builtin").options == list(builtins)
    at.selectbox(key="grids_builtin").select("digits-paper").run()
    assert at.text_area(key="grids_yaml").value == builtins["digits-paper"]

    # Built-in-like, but small and on a queue no worker listens on: the cells stay queued or waiting.
    definition = yaml.safe_load(builtins["digits-paper"])
    definition.update(name="dash-grid-launched", queue=PARKED_QUEUE, generators=[])
    definition["students"]["methods"] = [{"name": "erm"}, {"name": "kd", "teachers": "ensemble"}]
    at = submit_yaml(at, yaml.safe_dump(definition))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    grid_id = int(at.success[0].value.split("#")[1].split()[0])
    assert at.selectbox(key="grids_selected").value == grid_id  # the new grid is shown at once
    assert at.toggle(key="grids_live").value is True

    with live_stack.client() as client:
        grid = client.get(f"/grids/{grid_id}").json()
    assert grid["name"] == "dash-grid-launched" and grid["definition"]["queue"] == PARKED_QUEUE
    # 4 teachers and 3 erm students queued; the 3 kd students wait for the teachers.
    assert grid["counts"] == {"queued": 7, "waiting": 3}
    assert {row["status"] for row in frame_with(at, "role")} == {"queued", "waiting"}
    assert any("waiting 3" in m.value for m in at.markdown)


def test_retry_failed_cells_reenqueues_them(open_page: OpenPage, live_stack: Stack) -> None:
    with live_stack.client() as client:
        grid = client.post(
            "/grids", json={"definition": tiny_grid("dash-grid-retry", queue=PARKED_QUEUE)}
        ).json()
        teacher = next(c for c in grid["cells"] if c["role"] == "teacher")
        client.post(f"/runs/{teacher['run_id']}/cancel")  # its waiting kd students fail, naming it
    at = open_page(GRIDS_PAGE, grid=str(grid["id"]))
    assert not at.exception, at.exception
    failed = {row["key"]: row for row in frame_with(at, "role") if row["status"] == "failed"}
    assert len(failed) == 2 and all(row["error"] for row in failed.values())
    assert at.button(key="grids_retry").label == "Retry failed cells (3)"  # 2 failed + 1 cancelled
    # The progress bar splits the cells by status, done on the left, waiting on the right.
    [bar] = [m.value for m in at.markdown if "xcl-grid-progress" in m.value]
    shown = [part.split('"')[0] for part in bar.split('class="xcl-seg xcl-')[1:]]
    assert shown == [
        s for s in ("failed", "cancelled", "queued", "waiting") if s in grid_counts(live_stack, grid)
    ]

    at.button(key="grids_retry").click().run()
    assert not at.exception, at.exception
    assert "Retry accepted" in at.success[0].value
    with live_stack.client() as client:
        again = client.get(f"/grids/{grid['id']}").json()
    assert set(again["counts"]) <= {"queued", "waiting"}
    assert not [b for b in at.button if b.key == "grids_retry"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"methods": [{"name": "kd", "teachers": "nope"}]}, "names teachers 'nope'"),
        ({"methods": [{"name": "kd", "teachers": "ens", "temperature": -1}]}, "temperature must be > 0"),
    ],
)
def test_invalid_grid_shows_the_api_errors(
    open_page: OpenPage, live_stack: Stack, change: dict, expected: str
) -> None:
    definition = tiny_grid("dash-grid-invalid", queue=PARKED_QUEUE)
    definition["students"].update(change)
    at = submit_yaml(open_page(GRIDS_PAGE), yaml.safe_dump(definition))
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(expected in e for e in errors), errors
    if "temperature" in expected:  # a cell's error names the cell, once for all the cells it concerns
        assert any("student/kd/small-cnn@0.25/seed=0" in e for e in errors), errors
        assert len([e for e in errors if expected in e]) == 1, errors
    assert not at.success
    with live_stack.client() as client:
        names = [g["name"] for g in client.get("/grids").json()["data"]]
    assert "dash-grid-invalid" not in names


def test_unparsable_yaml_is_explained_without_asking_the_api(open_page: OpenPage) -> None:
    at = submit_yaml(open_page(GRIDS_PAGE), "name: [unclosed")
    assert not at.exception, at.exception
    assert "does not parse" in at.error[0].value
    at = submit_yaml(at, "- just a list")
    assert "YAML mapping" in at.error[0].value


@pytest.fixture()
def no_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    monkeypatch.setenv("XCL_API_URL", url)
    monkeypatch.setenv("XCL_API_TOKEN", "unused")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_grids_page_explains_a_missing_api(no_api: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.switch_page(GRIDS_PAGE)
    at.run()
    assert not at.exception, at.exception
    [error] = at.error
    assert f"Cannot reach the XCL Lab API at {no_api}" in error.value


def grid_counts(stack: Stack, grid: dict[str, Any]) -> dict[str, int]:
    with stack.client() as client:
        return client.get(f"/grids/{grid['id']}").json()["counts"]


def test_progress_bar_segments_add_up_in_lifecycle_order() -> None:
    counts = {"queued": 1, "succeeded": 2, "running": 1, "failed": 0}
    assert progress_segments(counts) == [("succeeded", 2, 50.0), ("running", 1, 25.0), ("queued", 1, 25.0)]
    html = progress_bar_html(counts)
    assert html.count('class="xcl-seg ') == 3 and 'title="running: 1"' in html and "width:50%" in html
    assert progress_segments({}) == [] and 'class="xcl-seg' not in progress_bar_html({})


def test_the_same_error_in_many_cells_is_one_line() -> None:
    cell = ["body", "definition", "cells"]
    detail = [
        *({"loc": [*cell, f"student/kd/m/seed={i}", "method"], "msg": "bad T"} for i in range(5)),
        {"loc": [*cell, "teacher/ens/0", "model"], "msg": "unknown model"},
        {"loc": ["body", "definition", "name"], "msg": "too long"},
    ]
    assert error_lines(ApiError(422, detail)) == [
        "`cells › method` in 5 cells (student/kd/m/seed=0, student/kd/m/seed=1, student/kd/m/seed=2 and 2 more):"
        " bad T",
        "`cells › teacher/ens/0 › model`: unknown model",
        "`name`: too long",
    ]

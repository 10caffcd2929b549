"""Analysis pages (gap, entropy, student size, lineage, cost) over a parked grid whose run lifecycles are faked
through the API with hand-picked metrics: no training, so every number on the pages is known."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from backend.db import make_engine, make_session_factory
from backend.models import Run
from tests.dashboard.conftest import PARKED_QUEUE, OpenPage
from tests.factories import finish, make_grid
from tests.support import Stack
from xclab.settings import Settings

PAGES = {
    "gap": "app_pages/gap.py",
    "entropy": "app_pages/entropy.py",
    "size": "app_pages/student_size.py",
    "lineage": "app_pages/lineage.py",
    "cost": "app_pages/cost.py",
}
BONUS = {"erm": 0.0, "kd[temperature=1]": 2.0, "kd[temperature=2]": 2.5, "xcl-mix": 4.0, "xcl-gan": 3.5}
H_HAT = {"kd[temperature=1]": 10.0, "kd[temperature=2]": 80.0, "xcl-mix": 28.0, "xcl-gan": 35.0}


def definition(name: str) -> dict[str, Any]:
    """Teachers, a generator, and full-precision and binary students at two widths: 3 + 40 parked runs."""
    return {
        "name": name,
        "task": "digits",
        "queue": PARKED_QUEUE,
        "epochs": 2,
        "teachers": [{"name": "ens", "members": 2, "model": {"name": "small-cnn"}}],
        "generators": [{"name": "gan", "model": {"name": "cgan", "width": 0.5}, "recipe": "digits-gan"}],
        "students": {
            "models": [{"name": "small-cnn"}, {"name": "small-cnn", "options": {"binary": True}}],
            "widths": [0.25, 0.5],
            "seeds": [0, 1],
            "methods": [
                {"name": "erm"},
                {"name": "kd", "teachers": "ens", "temperature": [1.0, 2.0]},
                {"name": "xcl-mix", "teachers": "ens"},
                {"name": "xcl-gan", "teachers": "ens", "generator": "gan"},
            ],
        },
    }


def student_metrics(key: str) -> dict[str, float]:
    _, method, model, seed_part = key.split("/")
    width, binary, seed = float(model.split("@")[1]), "binary" in model, int(seed_part.removeprefix("seed="))
    metrics = {
        "test_top1": 80.0 + 20 * width - 4.0 * binary + BONUS[method] + 0.5 * seed,
        "params": 10_000 * width,
        "macs": 50_000 * width,
        "binary_macs": 40_000 * width if binary else 0.0,
        "wall_time_s": 60 * width * (1 if method == "erm" else 2),
    }
    if method != "erm":
        metrics.update({"h_hat": H_HAT[method] + seed, "teacher_test_top1": 96.0})
    return metrics


@pytest.fixture(scope="module")
def analysis_grid(live_stack: Stack) -> dict[str, Any]:
    with live_stack.client() as client:
        grid, cells = make_grid(client, definition("dash-analysis"))
        for key, run_id in cells.items():
            if key.startswith("teacher/"):
                finish(client, run_id, metrics={"test_top1": 95.0, "wall_time_s": 300.0})
            elif key.startswith("generator/"):
                finish(client, run_id, metrics={"wall_time_s": 200.0})
        for key, run_id in cells.items():
            if key.startswith("student/"):
                finish(client, run_id, metrics=student_metrics(key))
        grid = client.get(f"/grids/{grid['id']}").json()
    assert grid["counts"] == {"succeeded": 43}
    return {**grid, "run_ids": cells}


def charts(at: AppTest) -> list[dict[str, Any]]:
    """Every plotly chart on the page as {figure, config}."""
    return [
        {"figure": json.loads(c.proto.spec), "config": json.loads(c.proto.config or "{}")}
        for c in at.get("plotly_chart")
    ]


def vega_charts(at: AppTest) -> list[dict[str, Any]]:
    """Every Vega-Lite chart (st.altair_chart) on the page as {spec, rows}: its spec and its one dataset's rows."""
    out = []
    for c in at.get("vega_lite_chart"):
        [dataset] = c.proto.datasets
        rows = pa.ipc.open_stream(dataset.data.data).read_pandas().to_dict("records")
        out.append({"spec": json.loads(c.proto.spec), "rows": rows})
    return out


def tables(at: AppTest) -> list[list[dict[str, Any]]]:
    return [d.value.to_dict("records") for d in at.dataframe]


def csv_buttons(at: AppTest) -> list[Any]:
    return [b for b in at.get("download_button") if b.label == "Download CSV"]


def open_ok(open_page: OpenPage, page: str, **query: str) -> AppTest:
    at = open_page(PAGES[page], **query)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_gap_page_bars_annotations_and_downloads(open_page: OpenPage, analysis_grid: dict) -> None:
    at = open_ok(open_page, "gap", grid=str(analysis_grid["id"]))
    assert at.radio(key="gap_kind").value == "grid"
    assert at.selectbox(key="gap_grid").value == analysis_grid["id"]
    assert at.subheader[0].value == "dash-analysis"
    gap_chart, paired = charts(at)
    [bars_trace] = gap_chart["figure"]["data"]
    assert (
        gap_chart["figure"]["layout"]["xaxis"]["rangemode"] == "tozero"
    )  # from zero: 0 = as good as the teacher
    bars = {a["y"]: a["text"] for a in gap_chart["figure"]["layout"]["annotations"]}  # next to each bar
    assert len(bars) == 20  # 5 methods x 4 student models
    # xcl-mix, full precision, width 0.5: 80 + 10 + 4 + (0 or 0.5) -> 94.25; gap 1.75; KD (T=1) gap 3.75.
    assert bars["xcl-mix · small-cnn@0.5"] == "gap 1.75 · +53% vs KD"
    assert bars["kd[temperature=1] · small-cnn@0.5"] == "gap 3.75"
    at_bar = bars_trace["y"].index("xcl-mix · small-cnn@0.5")
    assert bars_trace["x"][at_bar] == pytest.approx(1.75)
    # error bars: the gap's 95 % interval [-1.43, 4.93] (1.75 ± 12.706 · 0.354 / √2)
    assert bars_trace["error_x"]["array"][at_bar] == pytest.approx(3.18, abs=0.01)
    assert bars_trace["error_x"]["arrayminus"][at_bar] == pytest.approx(3.18, abs=0.01)
    assert gap_chart["config"]["toImageButtonOptions"]["format"] == "svg"
    # the paired differences by seed, from zero, with their intervals
    traces = {t["name"]: t for t in paired["figure"]["data"]}
    assert set(traces) == {"vs KD reference", "vs erm"}
    kd = traces["vs KD reference"]
    at_kd = kd["y"].index("xcl-mix − kd[temperature=1] · small-cnn@0.5")
    assert kd["x"][at_kd] == pytest.approx(2.0) and kd["text"][at_kd] == ""
    assert paired["figure"]["layout"]["xaxis"]["rangemode"] == "tozero"
    assert not [m for m in at.markdown if "(paper view)" in m.value]  # not a supplement grid

    rows, comparisons = tables(at)
    row = next(r for r in rows if r["method"] == "xcl-mix" and r["student"] == "small-cnn@0.5")
    assert row["teachers"] == "ens" and row["gap 95 % CI"] == "[-1.43, 4.93]"  # 1.75 ± 12.706 · 0.354 / √2
    # Seed by seed, xcl-mix − kd (T = 1, the default: no validation metrics) is +2 on both seeds.
    line = next(c for c in comparisons if c["comparison"] == "xcl-mix − kd[temperature=1] · small-cnn@0.5")
    assert (line["Δ (mean)"], line["seeds better"], line["95 % CI"], line[""]) == (
        2.0,
        "2/2",
        "[+2.00, +2.00]",
        "",
    )
    assert (
        row["mean"] == 94.25
        and row["gap"] == 1.75
        and row["KD row"] == "student/kd[temperature=1]/small-cnn@0.5"
    )
    assert csv_buttons(at)

    at.radio(key="gap_format").set_value("png").run()  # the modebar camera now saves PNGs
    assert charts(at)[0]["config"]["toImageButtonOptions"]["format"] == "png"


def test_entropy_page_scatter_by_study_and_histogram(open_page: OpenPage, analysis_grid: dict) -> None:
    at = open_ok(open_page, "entropy", grid=str(analysis_grid["id"]))
    scatter, histogram = charts(at)
    traces = {t["name"]: t for t in scatter["figure"]["data"]}
    assert set(traces) == {"kd: temperature", "methods"}  # erm logs no Ĥ
    kd = traces["kd: temperature"]
    assert {t.split(" · ")[0] for t in kd["text"]} == {"T=1", "T=2"}
    assert sorted(set(kd["x"])) == [10.5, 80.5]
    assert {t.split(" · ")[0] for t in traces["methods"]["text"]} == {"xcl-mix", "xcl-gan"}
    assert scatter["figure"]["layout"]["shapes"]  # the teacher ensemble line
    runs = {t["name"]: sorted(t["x"]) for t in histogram["figure"]["data"]}
    assert runs["original transfer set (KD)"] == sorted([10.0, 11.0, 80.0, 81.0] * 4)
    assert runs["extended transfer set (XCL)"] == sorted([28.0, 29.0, 35.0, 36.0] * 4)
    [rows] = tables(at)
    assert len(rows) == 20 and {r["study"] for r in rows} == {"kd: temperature", "methods"}
    assert json.loads(next(r for r in rows if r["label"] == "T=2")["params"])["temperature"] == 2.0
    assert csv_buttons(at)


def test_student_size_page_panels_and_teacher_line(open_page: OpenPage, analysis_grid: dict) -> None:
    at = open_ok(open_page, "size", grid=str(analysis_grid["id"]))
    by_params, by_macs = charts(at)
    for chart, axis in ((by_params, "parameters"), (by_macs, "MACs")):
        layout = chart["figure"]["layout"]
        titles = {a["text"] for a in layout["annotations"]}
        assert {"full precision", "binary weights"} <= titles
        assert any("teacher ensemble 4.00" in t for t in titles)
        assert layout["xaxis"]["type"] == "log" and layout["xaxis"]["title"]["text"] == axis
        assert chart["config"]["toImageButtonOptions"]["filename"].startswith("student-size-")
    series = {(t["name"], t["xaxis"]): t for t in by_params["figure"]["data"]}
    assert len(series) == 10  # 5 methods x 2 panels
    erm_full = series[("erm", "x")]
    # erm, full precision: top1 = 80 + 20 w + 0.25 -> errors 14.75 (w 0.25) and 9.75 (w 0.5)
    assert erm_full["x"] == [2500.0, 5000.0] and erm_full["y"] == [14.75, 9.75]
    assert series[("erm", "x2")]["y"] == [18.75, 13.75]  # binary: 4 points worse
    [rows] = tables(at)
    assert len(rows) == 20 and {r["precision"] for r in rows} == {"full", "binary"}
    assert csv_buttons(at)


def test_lineage_page_graph_and_stale_students(
    open_page: OpenPage, analysis_grid: dict, live_stack: Stack
) -> None:
    at = open_ok(open_page, "lineage", grid=str(analysis_grid["id"]))
    assert not at.warning
    [chart] = charts(at)
    names = {t["name"] for t in chart["figure"]["data"]}
    assert {"teacher → student", "generator → student", "succeeded"} <= names
    assert "stale student" not in names
    [graph] = at.get("graphviz_chart")
    assert "->" in graph.proto.spec
    nodes, edges = tables(at)
    assert len(nodes) == 43
    assert len(edges) == 32 * 2 + 8  # 2 teachers per distilled student, 1 generator per xcl-gan student
    assert len(csv_buttons(at)) == 2
    assert {b.label for b in at.get("download_button")} >= {"Download DOT"}

    # Teacher 1 re-ran (attempt 2) after its students started: they are flagged, in the chart and the table.
    ids = analysis_grid["run_ids"]
    teacher = ids["teacher/ens/1"]
    engine = make_engine(Settings(home=live_stack.home, _env_file=None).resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            latest = max(r.started_at for r in session.query(Run).filter(Run.grid_id == analysis_grid["id"]))
            session.execute(
                update(Run)
                .where(Run.id == teacher)
                .values(attempt=2, finished_at=latest + timedelta(seconds=5))
            )
            session.commit()
    finally:
        engine.dispose()
    at = open_ok(open_page, "lineage", grid=str(analysis_grid["id"]))
    [warning] = at.warning
    assert warning.value.startswith("32 stale student(s)")
    [chart] = charts(at)
    [stale] = [t for t in chart["figure"]["data"] if t["name"] == "stale student"]
    assert len(stale["x"]) == 32
    assert all(f"teacher run {teacher} (attempt 2)" in text for text in stale["hovertext"])
    nodes, _ = tables(at)
    assert sum(n["stale"] for n in nodes) == 32


def test_cost_page_totals_charts_and_tables(open_page: OpenPage, analysis_grid: dict) -> None:
    at = open_ok(open_page, "cost", grid=str(analysis_grid["id"]))
    metrics = {m.label: m.value for m in at.metric}
    # teachers 2 x 300 + generator 200 + students: 4 models x 2 seeds x 60 w (1 for erm, 2 x 4 distilled)
    seconds = 2 * 300 + 200 + sum(2 * 60 * w * 2 * (1 + 2 * 4) for w in (0.25, 0.5))
    assert (
        metrics["Runs"] == "43"
        and metrics["Wall hours, CPU queues"] == f"{seconds / 3600:.2f}"
        and metrics["Wall hours, GPU queues"] == "0.00"
    )
    assert not charts(at)  # Vega-Lite only: the page never waits for plotly.js
    assert "cost_format" not in [r.key for r in at.radio]  # their toolbar saves PNG: no SVG/PNG picker
    hours, gain = vega_charts(at)
    y = hours["spec"]["encoding"]["y"]
    assert y["stack"] == "zero" and y["scale"]["zero"] and y["title"] == "wall-clock hours"
    assert {r["queues"] for r in hours["rows"]} == {"wall hours on CPU queues", "wall hours on GPU queues"}
    assert sum(r["hours"] for r in hours["rows"]) == pytest.approx(seconds / 3600)
    assert gain["spec"]["encoding"]["x"]["scale"]["zero"]
    bars = {r["student"]: r["gain_per_hour"] for r in gain["rows"]}
    xcl_label = next(r["bar"] for r in gain["rows"] if r["student"] == "xcl-mix · small-cnn@0.5")
    assert (
        xcl_label.startswith("xcl-mix · small-cnn@0.5: +4.00 in ") and "of it teachers/generator" in xcl_label
    )
    methods, grids, runs = tables(at)
    # xcl-mix at full precision, width 0.5: +4 points over ERM in 60 s of its own, plus its share of the teachers'
    # 600 s (split among every distilled student); ERM needs no teachers.
    [xcl] = [m for m in methods if m["method"] == "xcl-mix" and m["model"] == "small-cnn@0.5"]
    share = xcl["dependency_hours_per_run"] * 3600
    assert 0 < share < 600 and xcl["hours_per_run"] * 3600 == pytest.approx(60)
    assert bars["xcl-mix · small-cnn@0.5"] == pytest.approx(4 / ((60 + share) / 3600))
    assert all(m["dependency_hours_per_run"] == 0 for m in methods if m["method"] == "erm")
    assert len(methods) == 20 and len(runs) == 43
    assert grids == [
        {
            "grid": "dash-analysis",
            "runs": 43,
            "cpu_hours": pytest.approx(seconds / 3600),
            "gpu_hours": 0.0,
            "cpu_seconds": pytest.approx(seconds),
            "gpu_seconds": 0.0,
        }
    ]
    assert len(csv_buttons(at)) == 3


@pytest.mark.parametrize("page", sorted(PAGES))
def test_pages_analyse_a_whole_experiment(open_page: OpenPage, analysis_grid: dict, page: str) -> None:
    at = open_ok(open_page, page, experiment=str(analysis_grid["experiment_id"]))
    assert at.radio(key=f"{page}_kind").value == "experiment"
    assert at.selectbox(key=f"{page}_experiment").value == analysis_grid["experiment_id"]
    assert (charts(at) or vega_charts(at)) and tables(at) and csv_buttons(at)


def test_gap_page_shows_the_supplement_tables_of_a_builtin_grid(
    live_stack: Stack, open_page: OpenPage
) -> None:
    """A grid named as the built-in temperature study (a few of its cells): Tables 4 and 5 as printed in the
    supplement, the paper's numbers beside ours, '–' for temperatures not run."""
    definition = {
        "name": "digits-temperature",
        "task": "digits",
        "queue": PARKED_QUEUE,
        "teachers": [{"name": "ens", "members": 1, "model": {"name": "small-cnn"}}],
        "students": {
            "models": [{"name": "small-cnn", "width": 0.5}],
            "seeds": [0, 1],
            "methods": [
                {"name": "kd", "teachers": "ens", "temperature": [1.0, 2.0]},
                {"name": "xcl-mix", "teachers": "ens", "temperature": [1.0]},
            ],
        },
    }
    top1 = {"kd[temperature=1]": 90.0, "kd[temperature=2]": 91.0, "xcl-mix[temperature=1]": 93.0}
    with live_stack.client() as client:
        grid, cells = make_grid(client, definition)
        finish(client, cells["teacher/ens/0"], metrics={"test_top1": 95.0})
        for key, run_id in cells.items():
            if key.startswith("student/"):
                _, label, _, seed = key.split("/")
                value = top1[label] + 0.5 * int(seed.removeprefix("seed="))
                finish(client, run_id, metrics={"test_top1": value, "teacher_test_top1": 96.0, "h_hat": 30.0})
    at = open_ok(open_page, "gap", grid=str(grid["id"]))
    titles = [m.value for m in at.markdown if "(paper view)" in m.value]
    assert titles == [
        "**Table 4: effect of temperature on KD** (paper view)",
        "**Table 5: effect of temperature on XCL** (paper view)",
    ]
    table4, table5, *_ = tables(at)  # the paper view comes first, then the report's own tables
    paper = "paper (CIFAR-100 ResNet-18) top-1 (%)"
    assert [r["T"] for r in table4] == ["1", "1.5", "2", "5", "10"]
    assert table4[2]["top-1 (%)"] == "91.25 ± 0.35" and table4[2][paper] == "80.2 ± 0.1"
    assert table4[2]["− KD T=1 (points) [95 % CI]"] == "+1.00 [+1.00, +1.00] 2/2"
    assert table4[1]["top-1 (%)"] == "–" and table4[1][paper] == "79.9 ± 0.3"
    assert table5[0]["− KD same T (points) [95 % CI]"] == "+3.00 [+3.00, +3.00] 2/2"
    assert table5[0][paper] == "83.1 ± 0.2"

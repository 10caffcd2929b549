"""Compare page: finished runs (lifecycles faked over the API, no training) side by side: the spec diff,
overlaid or grouped learning curves by step or wall time, parallel coordinates, the latest metrics, CSV
downloads; too few or unknown ids explain themselves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PARKED_QUEUE, OpenPage
from tests.factories import claim, create_experiment, finish, submit
from tests.support import Stack, digits_spec

COMPARE_PAGE = "app_pages/compare.py"


@pytest.fixture(scope="module")
def finished_pair(live_stack: Stack) -> list[dict[str, Any]]:
    with live_stack.client() as client:
        experiment = create_experiment(client, "dashboard-compare")
        a = submit(client, experiment["id"], queue=PARKED_QUEUE, seed=3)
        b = submit(
            client, experiment["id"], queue=PARKED_QUEUE, seed=4, model={"name": "small-cnn", "width": 0.25}
        )
        finish(client, a["id"], metrics={"test_top1": [60.0, 80.0, 90.0], "train_loss": [1.0, 0.5, 0.2]})
        finish(
            client,
            b["id"],
            metrics={"test_top1": [50.0, 70.0, 85.0], "train_loss": [1.2, 0.7, 0.4], "only_b": [1.0]},
        )
        return [client.get(f"/runs/{r['id']}").json() for r in (a, b)]


def charts(at: AppTest, kind: str = "scatter") -> dict[str, dict]:
    """The page's figures of one kind (learning curves: scatter) by title."""
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {f["layout"]["title"]["text"]: f for f in figures if f["data"] and f["data"][0]["type"] == kind}


def test_compare_shows_the_spec_diff_curves_and_metrics(
    open_page: OpenPage, finished_pair: list[dict]
) -> None:
    a, b = finished_pair
    at = open_page(COMPARE_PAGE, ids=f"{a['id']},{b['id']}")
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare runs"
    assert at.text_input(key="compare_ids_input").value == f"{a['id']},{b['id']}"

    diff = at.dataframe[0].value
    assert list(diff.columns) == ["field", f"#{a['id']}", f"#{b['id']}"]
    rows = {r["field"]: r for r in diff.to_dict("records")}
    assert set(rows) == {"model.width", "seed"}  # only what differs: not task, method, epochs, hparams.*
    assert (rows["model.width"][f"#{a['id']}"], rows["model.width"][f"#{b['id']}"]) == ("0.5", "0.25")
    assert (rows["seed"][f"#{a['id']}"], rows["seed"][f"#{b['id']}"]) == ("3", "4")

    summary = {r["id"]: r for r in at.dataframe[1].value.to_dict("records")}
    assert summary[a["id"]]["test_top1"] == 90.0 and summary[b["id"]]["test_top1"] == 85.0
    assert summary[b["id"]]["only_b"] == 1.0 and summary[a["id"]]["status"] == "succeeded"

    # Charts default to the metrics both runs logged, one line per run.
    assert at.multiselect(key="compare_keys").value == ["test_top1", "train_loss"]
    figures = charts(at)
    assert set(figures) == {"test_top1", "train_loss"}
    lines = {trace["name"]: trace for trace in figures["test_top1"]["data"]}
    name_a, name_b = f"#{a['id']} erm · small-cnn@0.5 · seed 3", f"#{b['id']} erm · small-cnn@0.25 · seed 4"
    assert lines[name_a]["x"] == [1, 2, 3] and lines[name_a]["y"] == [60.0, 80.0, 90.0]
    assert lines[name_b]["y"] == [50.0, 70.0, 85.0]
    assert lines[name_a]["line"]["color"] != lines[name_b]["line"]["color"]
    assert {t["legendgroup"] for t in figures["test_top1"]["data"]} == {"erm"}

    # A metric only one run logged: a chart with that run's line alone.
    at.multiselect(key="compare_keys").select("only_b").run()
    assert not at.exception, at.exception
    assert [t["name"] for t in charts(at)["only_b"]["data"]] == [name_b]

    # Smoothing keeps the raw curve as a faint line under each smoothed one; log scale is one toggle.
    at.slider(key="compare_smoothing").set_value(0.5).run()
    at.toggle(key="compare_log_y").set_value(True).run()
    assert not at.exception, at.exception
    top1 = charts(at)["test_top1"]
    assert len(top1["data"]) == 4 and top1["layout"]["yaxis"]["type"] == "log"
    assert [t["y"] for t in top1["data"] if t.get("name") == name_a] != [[60.0, 80.0, 90.0]]

    assert at.download_button(key="compare_diff_csv").label == "Download spec diff CSV"
    assert at.download_button(key="compare_metrics_csv").label == "Download metrics CSV"


def test_charts_start_with_the_primary_metric_and_losses(live_stack: Stack, open_page: OpenPage) -> None:
    curves = {
        k: [1.0, 2.0]
        for k in ("binary_macs", "epoch_seconds", "h_hat", "lr", "macs", "params", "test_top1", "train_loss")
    }
    with live_stack.client() as client:
        experiment = create_experiment(client, "dashboard-compare-keys")
        runs = [submit(client, experiment["id"], digits_spec(seed=s), queue=PARKED_QUEUE) for s in (5, 6)]
        for run in runs:
            finish(client, run["id"], metrics=curves)
    at = open_page(COMPARE_PAGE, ids=",".join(str(r["id"]) for r in runs))
    assert not at.exception, at.exception
    assert at.multiselect(key="compare_keys").value == ["test_top1", "train_loss"]
    assert set(charts(at)) == {"test_top1", "train_loss"}


def test_run_ids_typed_in_update_the_url(open_page: OpenPage, finished_pair: list[dict]) -> None:
    a, b = finished_pair
    at = open_page(COMPARE_PAGE)
    assert not at.exception, at.exception
    assert "Name 2 to 20 runs" in at.info[0].value
    at.text_input(key="compare_ids_input").input(f"{b['id']}, #{a['id']}, x").run()
    assert not at.exception, at.exception
    assert at.query_params["ids"] == f"{b['id']},{a['id']}"
    assert "x" in at.warning[0].value
    assert list(at.dataframe[0].value.columns) == ["field", f"#{b['id']}", f"#{a['id']}"]
    assert charts(at)


def test_one_or_unknown_runs_are_explained(open_page: OpenPage, finished_pair: list[dict]) -> None:
    a, _ = finished_pair
    at = open_page(COMPARE_PAGE, ids=str(a["id"]))
    assert not at.exception, at.exception
    assert "you named 1" in at.info[0].value and not at.dataframe

    at = open_page(COMPARE_PAGE, ids=f"{a['id']},987654")
    assert not at.exception, at.exception
    assert "987654 not found" in at.error[0].value


# Two methods x two seeds; each seed's curve is offset by +-5 around the method's, a minute per epoch.
CURVES = {"erm": [50.0, 60.0, 70.0], "ls": [40.0, 55.0, 80.0]}


@pytest.fixture(scope="module")
def seeded_groups(live_stack: Stack) -> list[dict[str, Any]]:
    with live_stack.client() as client:
        experiment = create_experiment(client, "dashboard-compare-groups")
        runs = []
        for method, curve in CURVES.items():
            for seed, offset in ((0, -5.0), (1, 5.0)):
                spec = digits_spec(seed=seed, method={"name": method})
                run = submit(client, experiment["id"], spec, queue=PARKED_QUEUE)
                claim(client, run["id"])
                start = 1_700_000_000.0 + 1000 * seed
                points = [
                    {"key": "test_top1", "step": step, "value": v + offset, "wall_time": start + 60 * step}
                    for step, v in enumerate(curve, start=1)
                ]
                assert client.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).status_code == 200
                done = client.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"})
                assert done.status_code == 200, done.text
                runs.append(client.get(f"/runs/{run['id']}").json())
    return runs


def test_grouping_by_a_spec_field_draws_the_mean_in_a_named_band(
    open_page: OpenPage, seeded_groups: list[dict]
) -> None:
    at = open_page(COMPARE_PAGE, ids=",".join(str(r["id"]) for r in seeded_groups))
    assert not at.exception, at.exception
    group_by = at.multiselect(key="compare_group_by")
    assert group_by.options[:2] == ["method.name", "seed"]  # the fields that differ come first
    assert "hparams.lr" in group_by.options and "model.width" in group_by.options
    group_by.select("method.name").run()
    assert not at.exception, at.exception
    figure = charts(at)["test_top1"]
    assert figure["layout"]["legend"]["title"]["text"] == "mean ± std over each group's runs"
    lines = {t["name"]: t for t in figure["data"] if t.get("fill") != "toself"}
    bands = {t["legendgroup"]: t for t in figure["data"] if t.get("fill") == "toself"}
    assert set(lines) == {"method.name=erm (n=2)", "method.name=ls (n=2)"}
    erm = lines["method.name=erm (n=2)"]
    assert erm["x"] == [1, 2, 3] and erm["y"] == pytest.approx(CURVES["erm"])
    std = 50**0.5  # two runs 10 apart
    assert bands["method.name=erm"]["y"] == pytest.approx(
        [v + std for v in CURVES["erm"]] + [v - std for v in reversed(CURVES["erm"])]
    )
    assert bands["method.name=erm"]["fillcolor"].startswith("rgba(")

    at.radio(key="compare_band").set_value("ci").run()
    figure = charts(at)["test_top1"]
    assert figure["layout"]["legend"]["title"]["text"] == "mean ± 95 % CI over each group's runs"
    band = next(t for t in figure["data"] if t.get("legendgroup") == "method.name=ls" and t.get("fill"))
    half = 12.706 * 10 / 2**0.5 / 2**0.5  # t(0.975, 1) * std / sqrt(n)
    assert band["y"][0] == pytest.approx(CURVES["ls"][0] + half, rel=1e-3)

    # Grouping by seed instead: each seed's group mixes the two methods.
    at.multiselect(key="compare_group_by").unselect("method.name").select("seed").run()
    names = {t["name"] for t in charts(at)["test_top1"]["data"] if t.get("fill") != "toself"}
    assert names == {"seed=0 (n=2)", "seed=1 (n=2)"}


def test_wall_time_axes_place_points_at_elapsed_minutes_or_the_clock(
    open_page: OpenPage, seeded_groups: list[dict]
) -> None:
    at = open_page(COMPARE_PAGE, ids=",".join(str(r["id"]) for r in seeded_groups))
    at.radio(key="compare_x_axis").set_value("elapsed").run()
    assert not at.exception, at.exception
    figure = charts(at)["test_top1"]
    assert figure["layout"]["xaxis"]["title"]["text"] == "wall time (minutes since start)"
    assert all(t["x"] == [0.0, 1.0, 2.0] for t in figure["data"])
    at.radio(key="compare_x_axis").set_value("clock").run()
    first = charts(at)["test_top1"]["data"][0]
    assert first["x"][0].startswith("2023-11-14T22:")  # 1_700_000_060 s, in UTC
    # Grouped on a wall-time axis: each step at the group's mean elapsed time.
    at.radio(key="compare_x_axis").set_value("elapsed").run()
    at.multiselect(key="compare_group_by").select("method.name").run()
    lines = [t for t in charts(at)["test_top1"]["data"] if t.get("fill") != "toself"]
    assert all(t["x"] == [0.0, 1.0, 2.0] for t in lines)


def test_parallel_coordinates_put_the_differing_fields_against_the_metric(
    open_page: OpenPage, seeded_groups: list[dict]
) -> None:
    at = open_page(COMPARE_PAGE, ids=",".join(str(r["id"]) for r in seeded_groups))
    assert not at.exception, at.exception
    assert not charts(at, "parcoords")  # opt-in: WebGL is slow to start without a GPU
    at.toggle(key="compare_parallel_on").set_value(True).run()
    [figure] = charts(at, "parcoords").values()
    assert figure["layout"]["title"]["text"] == "Hyperparameters vs test_top1"
    [trace] = figure["data"]
    dims = {d["label"]: d for d in trace["dimensions"]}
    assert list(dims)[-1] == "test_top1"
    assert {"method.name", "seed"} <= set(dims)
    assert dims["method.name"]["ticktext"] == ["erm", "ls"]
    assert dims["test_top1"]["values"] == [65.0, 75.0, 75.0, 85.0]  # last values, runs by id
    assert trace["line"]["color"] == dims["test_top1"]["values"]


def test_grouping_band_and_x_axis_live_in_the_url(open_page: OpenPage, seeded_groups: list[dict]) -> None:
    ids = ",".join(str(r["id"]) for r in seeded_groups)
    at = open_page(COMPARE_PAGE, ids=ids)
    assert set(at.query_params) == {"ids"}  # defaults stay out of a plain link
    at.multiselect(key="compare_group_by").select("method.name").run()
    at.radio(key="compare_band").set_value("ci").run()
    at.radio(key="compare_x_axis").set_value("elapsed").run()
    assert at.query_params == {"ids": ids, "group": "method.name", "band": "ci", "x": "elapsed"}
    # The same address opened afresh (a refresh, a shared link) draws the same chart.
    again = open_page(COMPARE_PAGE, **at.query_params)
    assert again.multiselect(key="compare_group_by").value == ["method.name"]
    assert (again.radio(key="compare_band").value, again.radio(key="compare_x_axis").value) == (
        "ci",
        "elapsed",
    )
    legend = charts(again)["test_top1"]["layout"]["legend"]["title"]["text"]
    assert legend == "mean ± 95 % CI over each group's runs"
    # Unknown fields and values in a link are dropped, not an error.
    odd = open_page(COMPARE_PAGE, ids=ids, group="nope,seed", band="x", x="sideways")
    assert not odd.exception, odd.exception
    assert odd.multiselect(key="compare_group_by").value == ["seed"]
    assert odd.radio(key="compare_x_axis").value == "step"

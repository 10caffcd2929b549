"""Compare page: two finished runs (lifecycles faked over the API, no training) side by side: the spec diff,
overlaid learning curves, the latest metrics, CSV downloads; too few or unknown ids explain themselves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PARKED_QUEUE, OpenPage
from tests.factories import create_experiment, finish, submit
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


def charts(at: AppTest) -> dict[str, dict]:
    return {
        json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
        for c in at.get("plotly_chart")
    }


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

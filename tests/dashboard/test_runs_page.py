"""Runs page: the seeded runs with status and primary metric, server-side filters, paging, links, CSV."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.tables import DEFAULT_COLUMNS
from tests.dashboard.conftest import PARKED_QUEUE, PARKED_RUNS, OpenPage, Seeded, click_row
from tests.factories import create_experiment, finish, submit
from tests.support import Stack, digits_spec


def table(at: AppTest) -> list[dict]:
    assert not at.exception, at.exception
    if not at.dataframe:
        return []
    return at.dataframe[0].value.to_dict("records")


def show_experiment(at: AppTest, experiment_id: int) -> AppTest:
    return at.selectbox(key="runs_experiment").select(experiment_id).run()


def test_runs_page_is_the_default_and_lists_seeded_runs(open_page: OpenPage, seeded: Seeded) -> None:
    at = open_page()
    assert at.title[0].value == "Runs"
    rows = {row["id"]: row for row in table(at)}
    trained = rows[seeded.trained_run["id"]]
    assert trained["status"] == "succeeded"
    assert trained["experiment"] == "dashboard-trained"
    assert trained["metric"] == "test_top1"
    assert trained["value"] == seeded.trained_run["summary"]["test_top1"]
    assert rows[seeded.parked_runs[0]["id"]]["status"] == "cancelled"
    assert rows[seeded.parked_runs[1]["id"]]["status"] == "queued"
    assert at.toggle(key="runs_live").value is True  # live refresh is on by default
    assert at.download_button(key="runs_csv").label == "Download CSV"


def test_filter_options_come_from_the_api(open_page: OpenPage, seeded: Seeded, live_stack: Stack) -> None:
    at = open_page()
    with live_stack.client() as client:
        catalog = client.get("/catalog").json()
        experiments = client.get("/experiments").json()["data"]
    assert at.multiselect(key="runs_task").options == [t["name"] for t in catalog["tasks"]]
    assert at.multiselect(key="runs_method").options == [m["name"] for m in catalog["methods"]]
    assert len(at.selectbox(key="runs_experiment").options) == len(experiments) + 1  # plus "All"


def test_filters_narrow_the_table(open_page: OpenPage, seeded: Seeded) -> None:
    at = show_experiment(open_page(), seeded.trained_experiment["id"])
    assert [r["id"] for r in table(at)] == [seeded.trained_run["id"]]

    at = show_experiment(at, seeded.parked_experiment["id"])
    assert {r["id"] for r in table(at)} == {r["id"] for r in seeded.parked_runs}

    at.multiselect(key="runs_status").select("cancelled").run()
    assert [r["id"] for r in table(at)] == [seeded.parked_runs[0]["id"]]

    at.multiselect(key="runs_status").unselect("cancelled").select("succeeded").run()
    assert table(at) == []
    assert "No runs match" in at.info[0].value

    at.multiselect(key="runs_status").unselect("succeeded").run()
    at.multiselect(key="runs_task").select("digits").run()
    at.multiselect(key="runs_method").select("erm").run()
    assert len(table(at)) == PARKED_RUNS


def test_sort_and_next_page(open_page: OpenPage, seeded: Seeded) -> None:
    at = show_experiment(open_page(), seeded.parked_experiment["id"])
    at.selectbox(key="runs_sort").select("id").run()
    at.selectbox(key="runs_limit").select(10).run()
    first = [r["id"] for r in table(at)]
    assert first == sorted(r["id"] for r in seeded.parked_runs)[:10]
    assert at.button(key="runs_prev").disabled
    assert any(f"runs 1–10 of {PARKED_RUNS}" in c.value for c in at.caption)  # the total, not just the page

    at.button(key="runs_next").click().run()
    second = [r["id"] for r in table(at)]
    assert second == sorted(r["id"] for r in seeded.parked_runs)[10:]
    assert at.button(key="runs_next").disabled  # the server sent no next_page_token

    at.button(key="runs_prev").click().run()
    assert [r["id"] for r in table(at)] == first

    at.button(key="runs_next").click().run()
    at.selectbox(key="runs_sort").select("-id").run()  # new filters start again at page 1
    assert [r["id"] for r in table(at)] == sorted(first + second, reverse=True)[:10]


def test_a_clicked_row_opens_its_run(open_page: OpenPage, seeded: Seeded) -> None:
    at = show_experiment(open_page(), seeded.trained_experiment["id"])
    assert table(at)[0]["name"] == "erm · small-cnn@0.5 · seed 0"
    click_row(at, "runs_table", 0, column="name")
    assert not at.exception, at.exception
    assert at.title[0].value == "Run"
    assert at.query_params["run"] == str(seeded.trained_run["id"])


def test_live_refresh_can_be_switched_off(open_page: OpenPage, seeded: Seeded) -> None:
    at = open_page()
    at.toggle(key="runs_live").set_value(False).run()
    assert not at.exception
    assert seeded.trained_run["id"] in {r["id"] for r in table(at)}


# ------------------------------------------------------------------ the research table


@pytest.fixture(scope="module")
def research_runs(live_stack: Stack) -> dict[str, Any]:
    """Three parked runs of their own experiment: two finished with curves (lifecycles faked), one queued."""
    specs = [
        digits_spec(seed=0),
        digits_spec(seed=1, model={"name": "small-cnn", "width": 0.25}),
        digits_spec(seed=2, model={"name": "small-cnn", "width": 1.0}),
    ]
    with live_stack.client() as client:
        experiment = create_experiment(client, "dashboard-research")
        ids = [submit(client, experiment["id"], spec, queue=PARKED_QUEUE)["id"] for spec in specs]
        finish(client, ids[0], metrics={"test_top1": [50.0, 70.0], "train_loss": [1.0, 0.6]})
        finish(client, ids[1], metrics={"test_top1": [60.0, 90.0], "train_loss": [0.9, 0.3]})
    return {"experiment": experiment["id"], "ids": ids}


def _view(live_stack: Stack, name: str) -> dict[str, Any] | None:
    with live_stack.client() as client:
        return next((v for v in client.get("/views").json()["data"] if v["name"] == name), None)


def test_column_chooser_flattens_spec_and_metrics_and_sorts_by_a_metric(
    open_page: OpenPage, research_runs: dict[str, Any]
) -> None:
    r1, r2, r3 = research_runs["ids"]
    at = show_experiment(open_page(), research_runs["experiment"])
    chooser = at.multiselect(key="runs_columns")
    assert chooser.value == DEFAULT_COLUMNS
    assert {
        "model.width",
        "method.name",
        "seed",
        "hparams.lr",
        "test_top1",
        "train_loss",
        "tags",
        "notes",
    } <= set(chooser.options)
    chooser.unselect("created").select("model.width").select("hparams.lr").select("test_top1").run()
    assert not at.exception, at.exception
    columns = [c for c in DEFAULT_COLUMNS if c != "created"] + ["model.width", "hparams.lr", "test_top1"]
    assert list(at.dataframe[0].value.columns) == columns
    rows = {r["id"]: r for r in table(at)}
    assert (rows[r1]["model.width"], rows[r2]["model.width"], rows[r3]["model.width"]) == (0.5, 0.25, 1.0)
    assert rows[r2]["test_top1"] == 90.0 and rows[r1]["test_top1"] == 70.0
    assert pd.isna(rows[r3]["test_top1"]) and rows[r1]["hparams.lr"] > 0

    # Chosen metric columns become server-side sorts; runs without the metric come last.
    assert {"test_top1 (high → low)", "test_top1 (low → high)"} <= set(at.selectbox(key="runs_sort").options)
    at.selectbox(key="runs_sort").select("-metric:test_top1").run()
    assert [r["id"] for r in table(at)] == [r2, r1, r3]
    at.selectbox(key="runs_sort").select("metric:test_top1").run()
    assert [r["id"] for r in table(at)] == [r1, r2, r3]
    # Dropping the column drops its sort.
    at.multiselect(key="runs_columns").unselect("test_top1").run()
    assert at.selectbox(key="runs_sort").value == "-id"
    assert [r["id"] for r in table(at)] == [r3, r2, r1]


def test_tags_and_notes_are_edited_for_selected_runs_and_filter_the_table(
    open_page: OpenPage, research_runs: dict[str, Any], live_stack: Stack
) -> None:
    r1, r2, r3 = research_runs["ids"]
    at = show_experiment(open_page(), research_runs["experiment"])
    at.multiselect(key="runs_selected").select(r1).run()
    at.text_input(key=f"runs_edit_tags_{r1}").input("Paper-Table, baseline")
    at.text_area(key=f"runs_edit_notes_{r1}").input("best lr so far")
    at.button(key="runs_edit_save").click().run()
    assert not at.exception, at.exception
    assert f"Saved run #{r1}" in at.success[0].value
    with live_stack.client() as client:
        stored = client.get(f"/runs/{r1}").json()
    assert (stored["tags"], stored["notes"]) == (["baseline", "paper-table"], "best lr so far")

    at.text_input(key=f"runs_edit_tags_{r1}").input("no spaces allowed")
    at.button(key="runs_edit_save").click().run()
    assert not at.exception, at.exception
    assert "tags.0" in at.error[0].value and "pattern" in at.error[0].value

    # Several runs: tags are added to (or removed from) each.
    at.multiselect(key="runs_selected").select(r2).run()
    at.text_input(key="runs_edit_add").input("paper-table")
    at.button(key="runs_edit_save_many").click().run()
    assert not at.exception, at.exception
    assert "Updated the tags of 2 runs" in at.success[0].value

    at.multiselect(key="runs_columns").select("tags").select("notes").run()
    rows = {r["id"]: r for r in table(at)}
    assert (rows[r1]["tags"], rows[r1]["notes"]) == ("baseline, paper-table", "best lr so far")
    assert rows[r2]["tags"] == "paper-table" and rows[r3]["tags"] == ""

    assert {"baseline", "paper-table"} <= set(at.multiselect(key="runs_tags").options)
    at.multiselect(key="runs_tags").select("paper-table").run()
    assert {r["id"] for r in table(at)} == {r1, r2}
    at.multiselect(key="runs_tags").select("baseline").run()
    assert [r["id"] for r in table(at)] == [r1]


def test_saved_view_restores_filters_columns_sort_and_page_size(
    open_page: OpenPage, research_runs: dict[str, Any], live_stack: Stack
) -> None:
    r1, r2, _ = research_runs["ids"]
    name = "research finished by accuracy"
    at = show_experiment(open_page(), research_runs["experiment"])
    at.multiselect(key="runs_status").select("succeeded").run()
    at.multiselect(key="runs_columns").select("test_top1").run()
    at.selectbox(key="runs_sort").select("-metric:test_top1").run()
    at.selectbox(key="runs_limit").select(10).run()
    at.text_input(key="runs_view_name").input(name).run()
    at.button(key="runs_view_save").click().run()
    assert not at.exception, at.exception
    assert f"Saved view '{name}'" in at.success[0].value
    view = _view(live_stack, name)
    assert view is not None
    assert view["params"]["filters"]["experiment_id"] == research_runs["experiment"]
    assert view["params"]["filters"]["status"] == ["succeeded"]
    assert (view["params"]["sort"], view["params"]["page_size"]) == ("-metric:test_top1", 10)
    assert "test_top1" in view["params"]["columns"]

    at.button(key="runs_view_save").click().run()  # the name is taken: the API's 409, shown
    assert "already exists" in at.error[0].value

    at = open_page()  # a fresh session: default settings
    assert at.selectbox(key="runs_experiment").value is None
    at.selectbox(key="runs_view").select(view["id"]).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="runs_experiment").value == research_runs["experiment"]
    assert at.multiselect(key="runs_status").value == ["succeeded"]
    assert "test_top1" in at.multiselect(key="runs_columns").value
    assert (at.selectbox(key="runs_sort").value, at.selectbox(key="runs_limit").value) == (
        "-metric:test_top1",
        10,
    )
    assert [r["id"] for r in table(at)] == [r2, r1]

    at.button(key="runs_view_delete").click().run()
    assert not at.exception, at.exception
    assert _view(live_stack, name) is None and at.selectbox(key="runs_view").value is None


def _compare_button(at: AppTest):  # type: ignore[no-untyped-def]
    return at.button(key="runs_compare")


def test_compare_button_opens_the_selected_runs(open_page: OpenPage, research_runs: dict[str, Any]) -> None:
    r1, r2, _ = research_runs["ids"]
    at = show_experiment(open_page(), research_runs["experiment"])
    assert _compare_button(at).disabled  # nothing selected yet
    at.multiselect(key="runs_selected").select(r1).select(r2).run()
    assert not _compare_button(at).disabled
    _compare_button(at).click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare runs"
    assert at.query_params["ids"] == f"{r1},{r2}"
    diff = {r["field"] for r in at.dataframe[0].value.to_dict("records")}
    assert {"model.width", "seed"} == diff
    assert at.get("plotly_chart")


def test_filters_sort_and_selection_live_in_the_url(
    open_page: OpenPage, research_runs: dict[str, Any], live_stack: Stack
) -> None:
    r1, r2, r3 = research_runs["ids"]
    at = show_experiment(open_page(), research_runs["experiment"])
    at.multiselect(key="runs_status").select("succeeded").run()
    at.selectbox(key="runs_sort").select("id").run()
    at.multiselect(key="runs_selected").select(r2).run()
    assert at.query_params == {
        "experiment": str(research_runs["experiment"]),
        "status": "succeeded",
        "sort": "id",
        "selected": str(r2),
    }
    # The same address in a fresh session (a reload, a shared link) shows the same view.
    again = open_page("app_pages/runs.py", **at.query_params)
    assert again.selectbox(key="runs_experiment").value == research_runs["experiment"]
    assert again.multiselect(key="runs_status").value == ["succeeded"]
    assert again.multiselect(key="runs_selected").value == [r2]
    assert [r["id"] for r in table(again)] == [r1, r2]
    # Nonsense in a link is dropped, not an error.
    odd = open_page("app_pages/runs.py", status="nope,failed", experiment="x", rows="0", selected="a,-1")
    assert not odd.exception, odd.exception
    assert odd.multiselect(key="runs_status").value == ["failed"]
    assert odd.selectbox(key="runs_experiment").value is None


def test_confirmations_stay_and_the_tag_filter_learns_new_tags(
    open_page: OpenPage, research_runs: dict[str, Any]
) -> None:
    _, _, r3 = research_runs["ids"]
    at = show_experiment(open_page(), research_runs["experiment"])
    at.multiselect(key="runs_selected").select(r3).run()
    at.text_input(key=f"runs_edit_tags_{r3}").input("fresh-tag")
    at.button(key="runs_edit_save").click().run()
    assert "fresh-tag" in at.multiselect(key="runs_tags").options  # no reload needed
    at.toggle(key="runs_live").set_value(False).run()  # any later rerun keeps the answer
    assert f"Saved run #{r3}" in at.success[0].value


def test_ticked_rows_are_selected_for_compare_and_kept_in_the_url(
    open_page: OpenPage, research_runs: dict[str, Any]
) -> None:
    r1, r2, r3 = research_runs["ids"]
    at = show_experiment(open_page(), research_runs["experiment"])
    rows = {row["id"]: i for i, row in enumerate(table(at))}
    click_row(at, "runs_table", 0, rows=[rows[r1], rows[r3]])
    assert not at.exception, at.exception
    assert at.title[0].value == "Runs"  # ticking selects; it does not open the run
    assert at.multiselect(key="runs_selected").value == sorted([r1, r3], key=rows.get)
    assert set(at.query_params["selected"].split(",")) == {str(r1), str(r3)}
    assert not _compare_button(at).disabled
    # Clearing a checkbox drops that run; one picked in the box shows as a ticked row.
    click_row(at, "runs_table", 0, rows=[rows[r3]])
    assert at.multiselect(key="runs_selected").value == [r3]
    at.multiselect(key="runs_selected").select(r2).run()
    assert sorted(at.session_state["runs_table"]["selection"]["rows"]) == sorted([rows[r2], rows[r3]])
    # A reload of the address ticks the same rows.
    again = open_page("app_pages/runs.py", **at.query_params)
    assert again.multiselect(key="runs_selected").value == [r3, r2]
    assert sorted(again.session_state["runs_table"]["selection"]["rows"]) == sorted([rows[r2], rows[r3]])


def test_text_search_narrows_the_table_and_the_count_and_lives_in_the_url(
    open_page: OpenPage, research_runs: dict[str, Any], live_stack: Stack
) -> None:
    r1, r2, r3 = research_runs["ids"]
    with live_stack.client() as client:
        assert client.patch(f"/runs/{r2}", json={"tags": ["needle-tag"]}).status_code == 200
    at = show_experiment(open_page(), research_runs["experiment"])
    at.text_input(key="runs_search").input("NEEDLE").run()
    assert [r["id"] for r in table(at)] == [r2]
    assert any("of 1" in c.value for c in at.caption)
    assert at.query_params["q"] == "NEEDLE"
    at.text_input(key="runs_search").input("queued erm").run()
    assert [r["id"] for r in table(at)] == [r3]
    again = open_page("app_pages/runs.py", **at.query_params)
    assert again.text_input(key="runs_search").value == "queued erm"
    assert [r["id"] for r in table(again)] == [r3]

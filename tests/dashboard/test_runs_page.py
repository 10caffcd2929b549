"""Runs page: the seeded runs with status and primary metric, server-side filters, paging, links, CSV."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PARKED_RUNS, OpenPage, Seeded
from tests.support import Stack


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

    at.button(key="runs_next").click().run()
    second = [r["id"] for r in table(at)]
    assert second == sorted(r["id"] for r in seeded.parked_runs)[10:]
    assert at.button(key="runs_next").disabled  # the server sent no next_page_token

    at.button(key="runs_prev").click().run()
    assert [r["id"] for r in table(at)] == first

    at.button(key="runs_next").click().run()
    at.selectbox(key="runs_sort").select("-id").run()  # new filters start again at page 1
    assert [r["id"] for r in table(at)] == sorted(first + second, reverse=True)[:10]


def test_selecting_a_run_links_to_its_page(open_page: OpenPage, seeded: Seeded) -> None:
    at = show_experiment(open_page(), seeded.trained_experiment["id"])
    at.selectbox(key="runs_open").select(seeded.trained_run["id"]).run()
    [link] = [link for link in at.page_link if link.proto.query_string]
    assert link.proto.query_string == f"run={seeded.trained_run['id']}"
    assert link.proto.page.endswith("run")


def test_live_refresh_can_be_switched_off(open_page: OpenPage, seeded: Seeded) -> None:
    at = open_page()
    at.toggle(key="runs_live").set_value(False).run()
    assert not at.exception
    assert seeded.trained_run["id"] in {r["id"] for r in table(at)}

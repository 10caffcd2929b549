"""Runs with free-form params and a display name, tracking-only runs, and searching on params and spec fields,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.db import make_engine, make_session_factory
from backend.store.lifecycle import fail_stale_runs
from tests.support import digits_spec


def _experiment(api: TestClient, name: str = "exp") -> int:
    return api.post("/api/v1/experiments", json={"name": name}).json()["id"]


def _track(api: TestClient, exp: int, **body: Any) -> dict[str, Any]:
    response = api.post("/api/v1/runs", json={"experiment_id": exp, **body})
    assert response.status_code == 202, response.text
    return response.json()


def _ids(api: TestClient, **params: Any) -> list[int]:
    response = api.get("/api/v1/runs", params=params)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["data"]]


def test_a_tracking_run_is_created_with_typed_params_in_one_request(api: TestClient) -> None:
    exp = _experiment(api)
    params = {"arch": "resnet50", "lr": 0.1, "epochs": 90, "amp": True, "seed": "7"}
    run = _track(api, exp, name="  baseline  ", params=params)
    assert (run["kind"], run["status"], run["name"], run["params"]) == (
        "tracking",
        "running",
        "baseline",
        params,
    )
    assert run["spec"] == {} and run["queue"] == "" and run["started_at"] is not None
    again = api.get(f"/api/v1/runs/{run['id']}").json()
    assert (
        again["params"] == params and type(again["params"]["lr"]) is float and again["params"]["amp"] is True
    )
    finished = api.post(f"/api/v1/runs/{run['id']}/finish", json={"status": "succeeded"})
    assert finished.json()["status"] == "succeeded"
    retried = api.post(f"/api/v1/runs/{run['id']}/retry")
    assert retried.status_code == 409 and "tracking run" in retried.json()["detail"]


def test_creating_a_tracking_run_answers_what_reading_it_does(api: TestClient) -> None:
    """The run is built from the inserted row (no ORM flush, one statement on PostgreSQL): its answer must be
    the stored run's, field for field, and name where to poll it."""
    exp = _experiment(api)
    created = api.post("/api/v1/runs", json={"experiment_id": exp, "params": {"a": 1, "b": "x"}})
    plain = api.post("/api/v1/runs", json={"experiment_id": exp})
    for response in (created, plain):
        assert response.status_code == 202, response.text
        run = response.json()
        assert response.headers["location"].endswith(f"/api/v1/runs/{run['id']}")
        assert api.get(response.headers["location"]).json() == run
        assert run["created_at"] == run["started_at"]
    assert plain.json()["params"] == {} and created.json()["params"] == {"a": 1, "b": "x"}
    missing = api.post("/api/v1/runs", json={"experiment_id": exp + 100, "params": {"a": 1}})
    assert (missing.status_code, missing.json()) == (404, {"detail": f"experiment {exp + 100} not found"})
    assert len(_ids(api)) == 2  # the refused run left nothing behind, in any experiment


def test_a_training_run_takes_params_and_a_name_too(api: TestClient) -> None:
    exp = _experiment(api)
    body = {"experiment_id": exp, "spec": digits_spec(), "name": "digits", "params": {"note": "x"}}
    run = api.post("/api/v1/runs", json=body).json()
    assert (run["kind"], run["status"], run["name"], run["params"]) == (
        "training",
        "queued",
        "digits",
        {"note": "x"},
    )


def test_params_keep_their_first_value(api: TestClient) -> None:
    run = _track(api, _experiment(api), params={"lr": 0.1})
    url = f"/api/v1/runs/{run['id']}/params"
    assert api.post(url, json={"params": {"lr": 0.1, "wd": 0}}).json()["params"] == {"lr": 0.1, "wd": 0}
    assert api.post(url, json={"params": {"lr": 0.1}}).status_code == 200  # a retry is a no-op
    changed = api.post(url, json={"params": {"lr": 0.2}})
    assert changed.status_code == 409 and "'lr' is 0.1" in changed.json()["detail"]
    assert api.get(f"/api/v1/runs/{run['id']}").json()["params"] == {"lr": 0.1, "wd": 0}
    assert api.post("/api/v1/runs/424242/params", json={"params": {"a": 1}}).status_code == 404


def test_bad_params_and_names_are_422_naming_the_field(api: TestClient) -> None:
    exp = _experiment(api)

    def error(**body: Any) -> dict[str, Any]:
        response = api.post("/api/v1/runs", json={"experiment_id": exp, **body})
        assert response.status_code == 422, response.text
        return response.json()["detail"][0]

    assert error(params={"a:b": 1})["loc"] == ["body", "params", "a:b", "[key]"]
    assert error(params={"a": "x" * 501})["loc"][:3] == ["body", "params", "a"]
    assert error(params={"a": [1]})["loc"][:3] == ["body", "params", "a"]
    assert error(params={f"k{i}": i for i in range(201)})["loc"] == ["body", "params"]
    assert error(name="")["loc"] == ["body", "name"]
    assert "queue applies to training runs only" in error(queue="cpu")["msg"]
    assert api.post("/api/v1/runs", json={"experiment_id": 424242}).status_code == 404


def test_search_filters_on_params_and_spec_fields_and_sorts_by_a_latest_metric(api: TestClient) -> None:
    exp = _experiment(api)
    runs = []
    for i, (arch, top1) in enumerate(
        [("resnet50", 0.5), ("resnet18", 0.9), ("resnet50", 0.7), ("resnet50", 0.6)]
    ):
        run = _track(api, exp, params={"arch": arch, "lr": 0.1 * (i % 2), "big": i > 1})
        # Logged twice: the sort uses the latest value (step 1), not the largest.
        metrics = [{"key": "top1", "step": 0, "value": 1.0}, {"key": "top1", "step": 1, "value": top1}]
        api.post(f"/api/v1/runs/{run['id']}/metrics", json={"metrics": metrics})
        runs.append(run["id"])
    trained = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(seed=3)}).json()["id"]
    search = {"experiment_id": exp, "sort": "-metric:top1"}
    assert _ids(api, param="arch:resnet50", **search) == [runs[2], runs[3], runs[0]]
    assert _ids(api, param=["arch:resnet50", "big:true"], **search) == [runs[2], runs[3]]
    assert _ids(api, param="lr:0.1", **search) == [runs[1], runs[3]]
    assert _ids(api, param="arch:vit", **search) == []
    assert _ids(api, experiment_id=exp, field="spec.seed:3") == [trained]
    assert _ids(api, experiment_id=exp, field="spec.model.name:small-cnn") == [trained]
    assert _ids(api, experiment_id=exp, field="hparams.epochs:3") == [trained]
    for name, value in (("param", "arch"), ("field", "seed:3"), ("field", "spec.a b:1")):
        bad = api.get("/api/v1/runs", params={name: value})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", name], bad.text


def test_the_stale_run_sweep_leaves_a_tracking_run_without_heartbeats_alone(
    api: TestClient, database_url: str
) -> None:
    run = _track(api, _experiment(api))
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        assert fail_stale_runs(session, 0) == ([], [])  # nothing failed, nothing re-queued
        session.commit()
    engine.dispose()
    assert api.post(f"/api/v1/runs/{run['id']}/heartbeat").json()["status"] == "running"


def test_a_listed_run_reads_as_the_run_itself(api: TestClient) -> None:
    exp = _experiment(api)
    tracked = _track(api, exp, name="n", params={"a": 1, "b": "x", "c": False, "d": 0.25})["id"]
    trained = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()}).json()["id"]
    student_spec = digits_spec(method={"name": "kd"}, teachers=[trained])
    student = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": student_spec}).json()["id"]
    api.patch(f"/api/v1/runs/{tracked}", json={"tags": ["z", "y"], "notes": "hello"})
    api.post(f"/api/v1/runs/{tracked}/metrics", json={"metrics": [{"key": "m", "step": 3, "value": 0.5}]})
    listed = api.get("/api/v1/runs", params={"experiment_id": exp, "sort": "id"}).json()["data"]
    assert [r["id"] for r in listed] == [tracked, trained, student]
    assert listed[2]["teachers"] == [trained]
    for run in listed:
        assert run == {**api.get(f"/api/v1/runs/{run['id']}").json(), "artifacts": []}
    # Sorted by a metric, the page's runs are read another way (`store.run_rows`): the same answer.
    by_metric = api.get("/api/v1/runs", params={"experiment_id": exp, "sort": "-metric:m"}).json()["data"]
    assert [r["id"] for r in by_metric] == [tracked, student, trained]  # runs without the metric last, by id
    assert by_metric == [next(r for r in listed if r["id"] == m["id"]) for m in by_metric]
    # A page without a student skips the teachers' read; one with a student in it reads them.
    alone = api.get("/api/v1/runs", params={"experiment_id": exp, "sort": "id", "limit": 2}).json()["data"]
    assert [r["teachers"] for r in alone] == [[], []]


def test_a_runs_page_lists_params_as_each_run_reads_alone(api: TestClient, database_url: str) -> None:
    """A page takes a run's params from its row (`run.params_json`): as created, as rewritten when more are
    added, and, for a run stored without it (NULL: by a version before the column), from its run_param rows."""
    exp = _experiment(api)
    first = _track(api, exp, params={"b": 1, "B": "upper", "a": 0.1 + 0.2})["id"]
    added = api.post(f"/api/v1/runs/{first}/params", json={"params": {"A": True, "c": 2**53 + 1}})
    assert added.status_code == 200, added.text
    assert list(added.json()["params"]) == [
        "A",
        "B",
        "a",
        "b",
        "c",
    ]  # code-point order, whatever the collation
    older = _track(api, exp, params={"x": "y", "w": 2})["id"]
    api.post(f"/api/v1/runs/{older}/metrics", json={"metrics": [{"key": "m", "step": 0, "value": 1.0}]})
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE run SET params_json = NULL WHERE id = :id"), {"id": older})
    engine.dispose()
    for sort in ("id", "-metric:m"):  # read with the page's query, or by id after it (`store.run_rows`)
        listed = api.get("/api/v1/runs", params={"experiment_id": exp, "sort": sort}).json()["data"]
        assert {r["id"] for r in listed} == {first, older}
        for run in listed:
            alone = api.get(f"/api/v1/runs/{run['id']}").json()
            assert run == {**alone, "artifacts": []} and list(run["params"]) == list(alone["params"])
    assert listed[1]["params"] == {"A": True, "B": "upper", "a": 0.1 + 0.2, "b": 1, "c": 2**53 + 1}
    assert listed[0]["params"] == {"w": 2, "x": "y"}


def test_analysis_views_and_columns_take_an_experiment_with_tracking_runs(api: TestClient) -> None:
    exp = _experiment(api)
    run = _track(api, exp, params={"a": 1})["id"]
    api.post(f"/api/v1/runs/{run}/metrics", json={"metrics": [{"key": "m", "step": 0, "value": 1.0}]})
    api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()})
    for view in ("gap", "entropy", "student-size", "lineage", "cost"):
        response = api.get(f"/api/v1/analytics/{view}", params={"experiment_id": exp})
        assert response.status_code == 200, (view, response.text)
    columns = api.get("/api/v1/runs/columns", params={"experiment_id": exp}).json()
    assert (columns["metric_keys"], columns["param_keys"]) == (["m"], ["a"])
    compared = api.get("/api/v1/runs/compare", params={"ids": [run, run + 1]})
    assert compared.status_code == 200, compared.text

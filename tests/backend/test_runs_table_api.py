"""The research runs table over HTTP on SQLite and PostgreSQL: tags and notes, metric sort with keyset paging,
the column chooser's columns, saved views and run comparison."""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import create_experiment, log_metrics, submit


def _patch(api: TestClient, run_id: int, **body: Any):  # type: ignore[no-untyped-def]
    return api.patch(f"/api/v1/runs/{run_id}", json=body)


def _errors(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    return {".".join(map(str, e["loc"])): e["msg"] for e in response.json()["detail"]}


def _ids(api: TestClient, **params: Any) -> list[int]:
    response = api.get("/api/v1/runs", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["data"]]


# ------------------------------------------------------------------ tags and notes


def test_tags_and_notes_are_patched_normalised_and_returned(api: TestClient) -> None:
    run = submit(api, create_experiment(api)["id"])["id"]
    assert api.get(f"/api/v1/runs/{run}").json()["tags"] == []
    response = _patch(api, run, tags=[" Baseline", "paper:fig-3.b", "baseline", "A_b"], notes="lr too high?")
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == ["a_b", "baseline", "paper:fig-3.b"]
    assert response.json()["notes"] == "lr too high?"

    # A field left out stays; tags replace the whole set.
    assert _patch(api, run, notes="fine after all").json()["tags"] == ["a_b", "baseline", "paper:fig-3.b"]
    after = _patch(api, run, tags=["baseline", "keep"]).json()
    assert (after["tags"], after["notes"]) == (["baseline", "keep"], "fine after all")
    stored = api.get(f"/api/v1/runs/{run}").json()
    assert (stored["tags"], stored["notes"]) == (["baseline", "keep"], "fine after all")
    listed = api.get("/api/v1/runs").json()["data"][0]
    assert (listed["tags"], listed["notes"]) == (["baseline", "keep"], "fine after all")
    assert _patch(api, run, tags=[]).json()["tags"] == []


def test_tag_and_note_validation_names_the_field(api: TestClient) -> None:
    run = submit(api, create_experiment(api)["id"])["id"]
    assert "body.tags.1" in _errors(_patch(api, run, tags=["ok", "no spaces"]))
    assert "body.tags.0" in _errors(_patch(api, run, tags=["x" * 51]))
    assert "body.tags.0" in _errors(_patch(api, run, tags=["   "]))
    assert "body.tags.0" in _errors(_patch(api, run, tags=["café"]))
    errors = _errors(_patch(api, run, tags=[f"t{i}" for i in range(21)]))
    assert "at most 20 tags" in errors["body.tags"]
    assert _patch(api, run, tags=[f"t{i}" for i in range(20)]).status_code == 200
    assert "body.notes" in _errors(_patch(api, run, notes=["not", "text"]))
    assert "body.colour" in _errors(_patch(api, run, colour="red"))
    assert _patch(api, 424242, tags=["x"]).status_code == 404
    anonymous = TestClient(api.app)
    assert anonymous.patch(f"/api/v1/runs/{run}", json={"tags": ["x"]}).status_code == 401
    assert len(api.get(f"/api/v1/runs/{run}").json()["tags"]) == 20  # nothing half-applied


def test_tag_filter_needs_every_tag(api: TestClient) -> None:
    a, b = create_experiment(api, "a")["id"], create_experiment(api, "b")["id"]
    r1, r2, r3 = submit(api, a)["id"], submit(api, a, seed=1)["id"], submit(api, b)["id"]
    _patch(api, r1, tags=["baseline", "paper"])
    _patch(api, r2, tags=["baseline"])
    _patch(api, r3, tags=["paper"])
    assert _ids(api, tag="baseline") == [r2, r1]
    assert _ids(api, tag="BASELINE ") == [r2, r1]  # matched as stored: lower-case, stripped
    assert _ids(api, tag=["baseline", "paper"]) == [r1]
    assert _ids(api, tag="paper", experiment_id=b) == [r3]
    assert _ids(api, tag="paper", sort="id") == [r1, r3]
    assert _ids(api, tag="nobody") == []


# ------------------------------------------------------------------ sorting by a metric


def _walk(api: TestClient, limit: int, **params: Any) -> list[int]:
    """Every page of a listing, following next_page_token; fails on a repeated run."""
    seen: list[int] = []
    token = None
    for _ in range(100):
        query = {"limit": limit, **params, **({"page_token": token} if token else {})}
        response = api.get("/api/v1/runs", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= limit
        seen += [r["id"] for r in page["data"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert len(seen) == len(set(seen)), f"a run was listed twice: {seen}"
    return seen


def test_metric_sort_pages_through_every_run_once_with_missing_metrics_last(api: TestClient) -> None:
    exp, other = create_experiment(api, "sorted")["id"], create_experiment(api, "other")["id"]
    # Ties (0.5 three times), runs without the metric, and a late write of an older step (not the latest).
    values = [0.5, 0.1, None, 0.5, 0.9, None, 0.3, 0.5, None, 0.7, 0.0]
    ids = [submit(api, exp, seed=i)["id"] for i in range(len(values))]
    for run_id, value in zip(ids, values, strict=True):
        if value is not None:
            log_metrics(api, run_id, {"acc": value, "loss": 1 - value})
    late = {"metrics": [{"key": "acc", "step": 0, "value": 99.0}]}
    assert api.post(f"/api/v1/runs/{ids[1]}/metrics", json=late).status_code == 200
    log_metrics(api, submit(api, other)["id"], {"acc": 0.6})  # another experiment's run, filtered out below

    with_value = [(v, i) for i, v in zip(ids, values, strict=True) if v is not None]
    missing = [i for i, v in zip(ids, values, strict=True) if v is None]
    ascending = [i for _, i in sorted(with_value)] + sorted(missing)
    descending = [i for _, i in sorted(with_value, reverse=True)] + sorted(missing, reverse=True)

    for limit in (1, 2, 3, 4, 100):
        assert _walk(api, limit, experiment_id=exp, sort="metric:acc") == ascending, limit
        assert _walk(api, limit, experiment_id=exp, sort="-metric:acc") == descending, limit
    # Every run at all, across experiments, exactly once.
    assert len(_walk(api, 2, sort="-metric:acc")) == len(ids) + 1
    # Sorting by a metric nobody logged is sorting by id (every run is "missing").
    assert _walk(api, 3, experiment_id=exp, sort="-metric:nothing") == sorted(ids, reverse=True)
    assert _walk(api, 3, experiment_id=exp, sort="metric:nothing") == sorted(ids)
    # Metric sort combines with the other filters.
    _patch(api, ids[0], tags=["pick"])
    _patch(api, ids[4], tags=["pick"])
    _patch(api, ids[2], tags=["pick"])
    assert _walk(api, 1, tag="pick", sort="-metric:acc") == [ids[4], ids[0], ids[2]]


def test_bad_sorts_and_tokens_are_422(api: TestClient) -> None:
    exp = create_experiment(api)["id"]
    for i in range(3):
        submit(api, exp, seed=i)["id"]
    assert "metric:<key>" in _errors(api.get("/api/v1/runs", params={"sort": "metric:"}))["query.sort"]
    assert "query.sort" in _errors(api.get("/api/v1/runs", params={"sort": "metric:bad key"}))
    assert "query.page_token" in _errors(api.get("/api/v1/runs", params={"page_token": "garbage"}))
    token = api.get("/api/v1/runs", params={"limit": 1, "sort": "status"}).json()["next_page_token"]
    wrong = api.get("/api/v1/runs", params={"limit": 1, "sort": "metric:acc", "page_token": token})
    assert "query.page_token" in _errors(wrong)


def test_forged_page_tokens_are_422_with_the_same_message(api: TestClient) -> None:
    exp = create_experiment(api)["id"]
    for i in range(2):
        submit(api, exp, seed=i)["id"]
    message = "malformed page_token; pass the next_page_token of the previous page unchanged (same sort)"
    forged = {  # well-formed base64 JSON whose values do not fit the sort
        "-id": base64.urlsafe_b64encode(b"[1.5, 1]").decode(),
        "created_at": base64.urlsafe_b64encode(b'["not a date", 1]').decode(),
        "-metric:acc": base64.urlsafe_b64encode(b'["high", 1]').decode(),
    }
    for sort, token in forged.items():
        response = api.get("/api/v1/runs", params={"sort": sort, "page_token": token})
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"type": "value_error", "loc": ["query", "page_token"], "msg": message, "input": token}
        ]


# ------------------------------------------------------------------ column chooser


def test_columns_lists_spec_paths_metric_keys_and_tags_of_the_filtered_runs(api: TestClient) -> None:
    a, b, empty = (
        create_experiment(api, "a")["id"],
        create_experiment(api, "b")["id"],
        create_experiment(api, "empty")["id"],
    )
    teacher = submit(api, a)["id"]
    student = submit(api, a, method={"name": "kd", "temperature": 4.0}, teachers=[teacher])["id"]
    log_metrics(api, teacher, {"test_top1": 90.0, "train_loss": 0.2})
    log_metrics(api, student, {"test_top1": 91.0, "kd_loss": 0.4})
    _patch(api, student, tags=["kd"])
    plain = submit(api, b)["id"]
    log_metrics(api, plain, {"val_top1": 50.0})

    columns = api.get("/api/v1/runs/columns", params={"experiment_id": a}).json()
    assert columns["metric_keys"] == ["kd_loss", "test_top1", "train_loss"]
    assert {"model.width", "model.name", "method.name", "method.temperature", "seed", "task"} <= set(
        columns["spec_fields"]
    )
    assert not any(f.startswith("model.options") for f in columns["spec_fields"])  # empty mappings vanish
    assert {"hparams.lr", "hparams.epochs", "hparams.method_params.temperature"} <= set(
        columns["hparam_fields"]
    )
    assert columns["tags"] == ["kd"] and columns["sampled_runs"] == 2

    columns = api.get("/api/v1/runs/columns", params={"experiment_id": b}).json()
    assert columns["metric_keys"] == ["val_top1"] and columns["tags"] == []
    assert "method.temperature" not in columns["spec_fields"]

    everything = api.get("/api/v1/runs/columns").json()
    assert everything["metric_keys"] == ["kd_loss", "test_top1", "train_loss", "val_top1"]
    assert everything["sampled_runs"] == 3
    tagged = api.get("/api/v1/runs/columns", params={"tag": "kd"}).json()
    assert tagged["metric_keys"] == ["kd_loss", "test_top1"] and tagged["sampled_runs"] == 1
    nothing = api.get("/api/v1/runs/columns", params={"experiment_id": empty}).json()
    assert nothing == {
        "spec_fields": [],
        "hparam_fields": [],
        "metric_keys": [],
        "tags": [],
        "sampled_runs": 0,
        "param_keys": [],
    }


# ------------------------------------------------------------------ saved views


def test_saved_views_create_list_delete_and_unique_names(api: TestClient) -> None:
    params = {
        "filters": {"experiment_id": 1, "status": ["succeeded"], "tags": ["paper"]},
        "sort": "-metric:test_top1",
        "columns": ["id", "model.width", "test_top1"],
        "page_size": 25,
    }
    response = api.post("/api/v1/views", json={"name": "paper table", "params": params})
    assert response.status_code == 201, response.text
    view = response.json()
    assert view["name"] == "paper table" and view["params"] == params and view["id"]
    assert api.post("/api/v1/views", json={"name": "paper table", "params": {}}).status_code == 409
    defaults = api.post("/api/v1/views", json={"name": "all runs"}).json()
    assert defaults["params"] == {"filters": {}, "sort": "-id", "columns": [], "page_size": 50}

    listed = api.get("/api/v1/views").json()["data"]
    assert [v["name"] for v in listed] == ["all runs", "paper table"]  # by name

    assert "body.params.page_size" in _errors(
        api.post("/api/v1/views", json={"name": "x", "params": {"page_size": 0}})
    )
    assert "body.params.colour" in _errors(
        api.post("/api/v1/views", json={"name": "x", "params": {"colour": 1}})
    )
    assert "body.name" in _errors(api.post("/api/v1/views", json={"name": "  "}))
    assert TestClient(api.app).post("/api/v1/views", json={"name": "anon"}).status_code == 401

    assert api.delete(f"/api/v1/views/{view['id']}").status_code == 204
    assert [v["name"] for v in api.get("/api/v1/views").json()["data"]] == ["all runs"]
    assert api.delete(f"/api/v1/views/{view['id']}").status_code == 404
    # The name is free again once its view is gone.
    assert api.post("/api/v1/views", json={"name": "paper table", "params": params}).status_code == 201


# ------------------------------------------------------------------ compare


def test_compare_diffs_only_differing_paths_and_lists_common_metrics(api: TestClient) -> None:
    exp = create_experiment(api)["id"]
    a = submit(api, exp, seed=0)["id"]
    b = submit(api, exp, seed=1, model={"name": "small-cnn", "width": 0.25})["id"]
    c = submit(api, exp, seed=0, overrides={"lr": 0.01})["id"]
    log_metrics(api, a, {"test_top1": 90.0, "train_loss": 0.3})
    log_metrics(api, b, {"test_top1": 88.0, "train_loss": 0.4, "extra": 1.0})
    log_metrics(api, c, {"test_top1": 91.0, "train_loss": 0.2})

    response = api.get("/api/v1/runs/compare", params={"ids": [a, b]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["runs"]] == [a, b]
    assert body["spec_diff"] == {
        "model.width": {str(a): 0.5, str(b): 0.25},
        "seed": {str(a): 0, str(b): 1},
    }
    assert body["metric_keys"] == ["test_top1", "train_loss"]
    assert body["runs"][1]["summary"]["extra"] == 1.0

    three = api.get("/api/v1/runs/compare", params={"ids": [c, a, b]}).json()
    assert [r["id"] for r in three["runs"]] == [c, a, b]
    assert set(three["spec_diff"]) == {"model.width", "seed", "overrides.lr", "hparams.lr"}
    assert three["spec_diff"]["overrides.lr"] == {str(c): 0.01, str(a): None, str(b): None}
    assert three["spec_diff"]["hparams.lr"][str(c)] == 0.01

    same = api.get("/api/v1/runs/compare", params={"ids": [a, submit(api, exp, seed=0)["id"]]}).json()
    assert same["spec_diff"] == {}

    missing = api.get("/api/v1/runs/compare", params={"ids": [a, 424242]})
    assert missing.status_code == 404 and "424242" in missing.json()["detail"]
    assert "query.ids" in _errors(api.get("/api/v1/runs/compare", params={"ids": [a]}))
    assert "query.ids" in _errors(api.get("/api/v1/runs/compare", params={"ids": [a, a]}))
    assert "query.ids" in _errors(api.get("/api/v1/runs/compare", params={"ids": list(range(1, 22))}))


def test_new_run_routes_do_not_shadow_run_ids(api: TestClient) -> None:
    exp = create_experiment(api)["id"]
    first, second = submit(api, exp)["id"], submit(api, exp)["id"]
    assert api.get("/api/v1/runs/columns").status_code == 200
    assert api.get(f"/api/v1/runs/compare?ids={first}&ids={second}").status_code == 200
    assert api.get(f"/api/v1/runs/{first}").json()["id"] == first

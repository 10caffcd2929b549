"""REST API v1 through FastAPI's router, on real SQLite and PostgreSQL and a real filesystem broker."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import create_experiment, submit
from tests.support import digits_spec


def test_health_reports_database_and_broker(api: TestClient) -> None:
    body = api.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["database"]["revision"] == body["database"]["head"]
    assert body["broker"]["ok"] and body["broker"]["transport"] == "filesystem"


def test_catalog_lists_what_the_engine_offers(api: TestClient) -> None:
    catalog = api.get("/api/v1/catalog").json()
    digits = next(t for t in catalog["tasks"] if t["name"] == "digits")
    assert digits["kind"] == "classification" and digits["primary_metric"] == {
        "key": "test_top1",
        "goal": "max",
    }
    assert any("digits" in m["tasks"] for m in catalog["models"])
    assert any(m["name"] == "erm" and m["needs_teachers"] is False for m in catalog["methods"])
    assert catalog["recipes"]


def test_writes_need_the_token_reads_do_not(api: TestClient) -> None:
    anonymous = TestClient(api.app)
    assert anonymous.post("/api/v1/experiments", json={"name": "x"}).status_code == 401
    assert (
        anonymous.post(
            "/api/v1/experiments", json={"name": "x"}, headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )
    assert anonymous.get("/api/v1/experiments").status_code == 200


def test_experiments_create_list_get(api: TestClient) -> None:
    exp = create_experiment(api, "first")["id"]
    assert api.post("/api/v1/experiments", json={"name": "first"}).status_code == 409
    submit(api, exp)
    listed = api.get("/api/v1/experiments").json()["data"]
    assert [(e["name"], e["run_count"]) for e in listed] == [("first", 1)]
    assert api.get(f"/api/v1/experiments/{exp}").json()["name"] == "first"
    assert api.get("/api/v1/experiments/424242").status_code == 404


def test_submit_returns_202_location_and_queued(api: TestClient) -> None:
    exp = create_experiment(api)["id"]
    response = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()})
    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"].endswith(f"/api/v1/runs/{body['id']}")
    assert body["status"] == "queued" and body["attempt"] == 1 and body["queue"] == "cpu"
    assert body["hparams"]["epochs"] == 3 and body["hparams"]["recipe"] == "digits-quick"
    assert body["primary_metric"] == "test_top1" and body["summary"] == {}


def _errors(response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {".".join(map(str, e["loc"])): e["msg"] for e in response.json()["detail"]}


def test_spec_errors_name_the_field_and_the_allowed_values(api: TestClient) -> None:
    exp = create_experiment(api)["id"]
    errors = _errors(
        api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(task="cifar10")})
    )
    assert "unknown task 'cifar10'; allowed: cifar100, digits" in errors["body.spec.task"]
    bad_model = digits_spec(model={"name": "resnet-9000", "width": 1.0})
    errors = _errors(api.post("/api/v1/runs", json={"experiment_id": exp, "spec": bad_model}))
    assert (
        "unknown model 'resnet-9000'" in errors["body.spec.model.name"]
        and "small-cnn" in errors["body.spec.model.name"]
    )
    errors = _errors(
        api.post(
            "/api/v1/runs",
            json={"experiment_id": exp, "spec": digits_spec(model={"name": "small-cnn", "width": 0})},
        )
    )
    assert "greater than 0" in errors["body.spec.model.width"]
    errors = _errors(
        api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(method={"name": "magic"})})
    )
    assert "unknown method 'magic'; allowed: " in errors["body.spec.method.name"]
    assert "xcl-mix" in errors["body.spec.method.name"]
    errors = _errors(
        api.post(
            "/api/v1/runs",
            json={"experiment_id": exp, "spec": digits_spec(method={"name": "erm", "epsilon": 0.1})},
        )
    )
    assert "method 'erm' has no parameter 'epsilon'" in errors["body.spec.method.epsilon"]
    errors = _errors(
        api.post(
            "/api/v1/runs",
            json={
                "experiment_id": exp,
                "spec": digits_spec(method={"name": "xcl-mix", "mix": "blend"}, teachers=[1]),
            },
        )
    )
    assert "'mix' must be one of: both, mixup, cutmix" in errors["body.spec.method.mix"]
    cifar_on_digits = digits_spec(model={"name": "resnet18-cifar"})
    errors = _errors(api.post("/api/v1/runs", json={"experiment_id": exp, "spec": cifar_on_digits}))
    assert (
        "does not fit task 'digits'; allowed for this task: cgan, small-cnn" in errors["body.spec.model.name"]
    )
    errors = _errors(
        api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(overrides={"lr": "fast"})})
    )
    assert "'lr' must be a float" in errors["body.spec.overrides.lr"]
    errors = _errors(api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(colour="red")}))
    assert "body.spec.colour" in errors


def test_teachers_must_exist_and_be_usable(api: TestClient) -> None:
    exp = create_experiment(api)["id"]
    errors = _errors(
        api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(teachers=[123456])})
    )
    # erm takes no teachers: the spec is refused before the ids are even looked up
    assert "takes no teachers" in errors["body.spec.teachers"]


def test_unknown_ids_are_404(api: TestClient) -> None:
    assert api.get("/api/v1/runs/999").status_code == 404
    assert api.post("/api/v1/runs/999/cancel").status_code == 404
    assert api.get("/api/v1/runs/999/metrics/loss").status_code == 404
    assert api.post("/api/v1/runs", json={"experiment_id": 999, "spec": digits_spec()}).status_code == 404


def test_metric_batches_are_idempotent_over_http(api: TestClient) -> None:
    run = submit(api, create_experiment(api)["id"])
    batch = {"metrics": [{"key": "loss", "step": s, "value": 2.0 - s / 10} for s in range(4)]}
    assert api.post(f"/api/v1/runs/{run['id']}/metrics", json=batch).json() == {"written": 4}
    assert api.post(f"/api/v1/runs/{run['id']}/metrics", json=batch).json() == {"written": 4}
    points = api.get(f"/api/v1/runs/{run['id']}/metrics/loss").json()["points"]
    assert [p["step"] for p in points] == [0, 1, 2, 3]
    assert api.get(f"/api/v1/runs/{run['id']}").json()["summary"] == {"loss": 1.7}
    assert (
        len(api.get(f"/api/v1/runs/{run['id']}/metrics/loss", params={"max_points": 2}).json()["points"]) == 2
    )
    bad = api.post(
        f"/api/v1/runs/{run['id']}/metrics", json={"metrics": [{"key": "x y", "step": -1, "value": 1}]}
    )
    assert bad.status_code == 422


def test_metric_history_gives_wall_times_on_request(api: TestClient) -> None:
    run = submit(api, create_experiment(api)["id"])
    batch = [{"key": "acc", "step": s, "value": s / 10, "wall_time": 1000.0 + 60 * s} for s in range(5)]
    assert api.post(f"/api/v1/runs/{run['id']}/metrics", json={"metrics": batch}).status_code == 200
    url = f"/api/v1/runs/{run['id']}/metrics/acc"
    assert "wall_time" not in api.get(url).json()["points"][0]  # the default body stays lean
    full = api.get(url, params={"wall_time": "true"}).json()["points"]
    assert [(p["step"], p["wall_time"]) for p in full] == [(s, 1000.0 + 60 * s) for s in range(5)]
    thinned = api.get(url, params={"wall_time": "true", "max_points": 3}).json()["points"]
    assert [(p["step"], p["wall_time"]) for p in thinned] == [(0, 1000.0), (2, 1120.0), (4, 1240.0)]
    assert api.get(url, params={"wall_time": "maybe"}).status_code == 422


def test_run_list_filters_sorts_and_pages(api: TestClient) -> None:
    a, b = create_experiment(api, "a")["id"], create_experiment(api, "b")["id"]
    ids_a = [submit(api, a, seed=i)["id"] for i in range(5)]
    submit(api, b)
    assert api.post(f"/api/v1/runs/{ids_a[0]}/cancel").json()["status"] == "cancelled"
    page = api.get("/api/v1/runs", params={"experiment_id": a, "limit": 2}).json()
    assert [r["id"] for r in page["data"]] == ids_a[::-1][:2] and page["next_page_token"]
    rest = api.get(
        "/api/v1/runs", params={"experiment_id": a, "limit": 10, "page_token": page["next_page_token"]}
    ).json()
    assert [r["id"] for r in rest["data"]] == ids_a[::-1][2:] and rest["next_page_token"] is None
    cancelled = api.get("/api/v1/runs", params={"status": "cancelled"}).json()["data"]
    assert [r["id"] for r in cancelled] == [ids_a[0]]
    assert (
        len(api.get("/api/v1/runs", params={"task": "digits", "method": "erm", "sort": "id"}).json()["data"])
        == 6
    )
    assert api.get("/api/v1/runs", params={"sort": "colour"}).status_code == 422


def test_cancel_and_retry_rules(api: TestClient) -> None:
    run = submit(api, create_experiment(api)["id"])
    assert api.post(f"/api/v1/runs/{run['id']}/retry").status_code == 409  # queued: nothing to retry
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").json()["status"] == "cancelled"
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").status_code == 409
    retried = api.post(f"/api/v1/runs/{run['id']}/retry")
    assert (
        retried.status_code == 202 and retried.json()["attempt"] == 2 and retried.json()["status"] == "queued"
    )


def test_artifact_upload_and_download(api: TestClient) -> None:
    run = submit(api, create_experiment(api)["id"])
    payload = b"\x00checkpoint-bytes" * 1000
    up = api.put(
        f"/api/v1/runs/{run['id']}/artifacts/ckpt/model.pt", params={"kind": "checkpoint"}, content=payload
    )
    assert up.status_code == 200, up.text
    import hashlib

    assert up.json()["sha256"] == hashlib.sha256(payload).hexdigest() and up.json()["size"] == len(payload)
    assert api.get(f"/api/v1/runs/{run['id']}/artifacts/ckpt/model.pt").content == payload
    # Dots percent-encoded: a literal "../" is resolved by the client and would never reach the server's check.
    escape = api.put(f"/api/v1/runs/{run['id']}/artifacts/a/%2E%2E/%2E%2E/escape", content=b"x")
    assert escape.status_code == 422, escape.text
    [error] = escape.json()["detail"]
    assert error["loc"] == ["path", "path"] and error["input"] == "a/../../escape" and "'..'" in error["msg"]
    [artifact] = api.get(f"/api/v1/runs/{run['id']}").json()["artifacts"]
    assert artifact["path"] == "ckpt/model.pt" and artifact["url"].endswith("/artifacts/ckpt/model.pt")


def test_liveness_touches_nothing_and_readiness_caches_the_broker_check(api: TestClient) -> None:
    assert api.get("/api/v1/health/live").json() == {"status": "ok", "version": api.app.version}
    # The broker is checked once, then reused while fresh: a second readiness probe finds the same check time.
    first = api.get("/api/v1/health/ready")
    check = api.app.state.broker_check
    checked_at = check._at
    second = api.get("/api/v1/health/ready")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == api.get("/api/v1/health").json()
    assert check._at == checked_at
    check.ttl = 0  # expired: the next probe asks the broker again
    api.get("/api/v1/health/ready")
    assert check._at > checked_at


def test_liveness_answers_while_the_database_is_down(api: TestClient) -> None:
    from sqlalchemy import create_engine

    working = api.app.state.engine
    api.app.state.engine = create_engine("sqlite:////nonexistent-folder/x.db")
    try:
        assert api.get("/api/v1/health/live").status_code == 200
        down = api.get("/api/v1/health/ready")
        assert down.status_code == 503 and down.json()["database"]["ok"] is False
    finally:
        api.app.state.engine.dispose()
        api.app.state.engine = working

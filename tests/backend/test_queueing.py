"""Runs reach the broker only once committed, and a broker that is down fails the run visibly (503): over HTTP,
on real SQLite and PostgreSQL, a real filesystem broker, and a Redis URL nothing listens on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.app import create_app
from backend.db import make_engine
from backend.models import Run
from tests.backend.conftest import TOKEN
from tests.factories import create_experiment, finish, submit
from tests.support import digits_spec
from xclab.settings import Settings

DOWN = "redis://127.0.0.1:1/0"  # port 1: connection refused (after the Redis client's own retries, ~6 s)
# Each refused publish costs those retries, so the broker-down tests run on SQLite only; the commit of a failed
# publish is tested on both databases in test_unit_of_work.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _stored(database_url: str, run_id: int) -> tuple[str, str | None]:
    """(status, celery task id) as another connection sees them."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(Run.status, Run.celery_task_id).where(Run.id == run_id)).one()
            return row.status, row.celery_task_id
    finally:
        engine.dispose()


@pytest.fixture()
def published(api: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each publish, with the run's status as the database held it at that moment (what a worker would see)."""
    celery = api.app.state.celery  # type: ignore[attr-defined]
    real_send = celery.send_task
    seen: list[dict[str, Any]] = []

    def send_task(name: str, args: list[Any], **options: Any) -> Any:
        run_id, attempt = args
        seen.append({"run": run_id, "attempt": attempt, "stored": _stored(database_url, run_id)[0]})
        result = real_send(name, args=args, **options)
        seen[-1]["task_id"] = result.id
        return result

    monkeypatch.setattr(celery, "send_task", send_task)
    return seen


def test_a_new_run_is_committed_before_it_is_published(
    api: TestClient, database_url: str, published: list[dict[str, Any]]
) -> None:
    run = submit(api, create_experiment(api)["id"])
    assert published == [
        {"run": run["id"], "attempt": 1, "stored": "queued", "task_id": published[0]["task_id"]}
    ]
    assert _stored(database_url, run["id"]) == ("queued", published[0]["task_id"])


def test_released_and_retried_runs_are_committed_before_they_are_published(
    api: TestClient, published: list[dict[str, Any]]
) -> None:
    exp = create_experiment(api)["id"]
    teacher = submit(api, exp)["id"]
    spec = digits_spec(method={"name": "kd"}, teachers=[teacher])
    student = submit(api, exp, spec)["id"]
    assert [p["run"] for p in published] == [teacher]  # the student waits
    finish(api, teacher)
    assert published[-1] == {
        "run": student,
        "attempt": 1,
        "stored": "queued",
        "task_id": published[-1]["task_id"],
    }
    api.post(f"/api/v1/runs/{student}/cancel")
    assert api.post(f"/api/v1/runs/{student}/retry").status_code == 202
    assert published[-1]["run"] == student and published[-1]["attempt"] == 2
    assert published[-1]["stored"] == "queued"


@pytest.fixture()
def broker_down(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        home=tmp_path / "home", database_url=database_url, api_token=TOKEN, broker_url=DOWN, _env_file=None
    )
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def _assert_broker_error(message: str) -> None:
    assert message.startswith("could not reach the broker to enqueue this run (")
    assert message.endswith("); retry it once the broker is up")


@SQLITE_ONLY
def test_broker_down_answers_503_and_fails_the_stored_run(broker_down: TestClient) -> None:
    api = broker_down
    health = api.get("/api/v1/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert health.json()["broker"]["ok"] is False and health.json()["database"]["ok"] is True

    response = api.post(
        "/api/v1/runs", json={"experiment_id": create_experiment(api)["id"], "spec": digits_spec()}
    )
    assert response.status_code == 503
    detail = response.json()["detail"]
    _assert_broker_error(detail)
    [run] = api.get("/api/v1/runs").json()["data"]
    assert (run["status"], run["error"], run["attempt"]) == ("failed", detail, 1)
    assert run["finished_at"] is not None

    retried = api.post(f"/api/v1/runs/{run['id']}/retry")
    assert retried.status_code == 503
    run = api.get(f"/api/v1/runs/{run['id']}").json()
    assert (run["status"], run["attempt"]) == ("failed", 2)


@SQLITE_ONLY
def test_broker_down_fails_the_grid_cells_it_could_not_publish(broker_down: TestClient) -> None:
    definition = {
        "name": "g",
        "task": "digits",
        "teachers": [{"name": "ens", "members": 1, "model": {"name": "small-cnn"}}],
        "students": {
            "models": [{"name": "small-cnn", "width": 0.5}],
            "methods": [{"name": "kd", "teachers": "ens"}],
        },
    }
    response = broker_down.post("/api/v1/grids", json={"definition": definition})
    assert response.status_code == 201
    cells = {c["key"]: c for c in response.json()["cells"]}
    # The answer shows what the database now holds: the teacher could not be published and is failed (its
    # student waits for it to be retried).
    assert cells["teacher/ens/0"]["status"] == "failed"
    _assert_broker_error(cells["teacher/ens/0"]["error"])
    assert cells["student/kd/small-cnn@0.5/seed=0"]["status"] == "waiting"

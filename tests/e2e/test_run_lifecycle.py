"""One run travels API -> queue -> worker -> results, on real processes and both brokers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import experiment_named
from tests.support import REDIS_URL, Stack, digits_spec, start_process, start_stack


def _submit(stack: Stack, spec: dict, experiment: str = "e2e") -> dict:
    with stack.client() as client:
        response = client.post(
            "/runs", json={"experiment_id": experiment_named(client, experiment), "spec": spec}
        )
        assert response.status_code == 202, response.text
        assert response.headers["Location"].endswith(f"/api/v1/runs/{response.json()['id']}")
        return response.json()


def _assert_trained(stack: Stack, run_id: int, epochs: int) -> None:
    run = stack.wait_for_status(run_id, {"succeeded", "failed", "cancelled"}, timeout=180)
    assert run["status"] == "succeeded", f"{run['error']}\n{stack.logs()}"
    assert run["primary_metric"] == "test_top1"
    assert run["summary"]["test_top1"] > 80.0  # chance is 10 %
    with stack.client() as client:
        curve = client.get(f"/runs/{run_id}/metrics/test_top1").json()["points"]
        assert [p["step"] for p in curve] == list(range(1, epochs + 1))
        losses = [p["value"] for p in client.get(f"/runs/{run_id}/metrics/train_loss").json()["points"]]
        assert losses[-1] < losses[0]
        artifacts = {a["path"]: a for a in run["artifacts"]}
        # The resumable checkpoint uploaded along the way is dropped once the run succeeded (no attempt resumes it).
        assert set(artifacts) == {"model.pt", "predictions/test.json"}
        assert client.get(f"/runs/{run_id}/artifacts/resume/checkpoint.pt").status_code == 404
        artifact = artifacts["model.pt"]
        assert artifact["kind"] == "checkpoint" and artifact["size"] > 1000
        download = client.get(f"/runs/{run_id}/artifacts/model.pt")
        assert download.status_code == 200 and len(download.content) == artifact["size"]


def test_digits_run_on_filesystem_broker(live_stack: Stack) -> None:
    run = _submit(live_stack, digits_spec(epochs=4))
    assert run["status"] == "queued" and run["attempt"] == 1
    _assert_trained(live_stack, run["id"], epochs=4)


@pytest.fixture()
def redis_stack(tmp_path: Path, postgres_url: str) -> Iterator[Stack]:
    stack = start_stack(tmp_path, database_url=postgres_url, broker_url=REDIS_URL, workers=1)
    try:
        yield stack
    finally:
        stack.stop()


def test_digits_run_on_redis_broker_and_postgres(redis_stack: Stack) -> None:
    with redis_stack.client() as client:
        health = client.get("/health").json()
        assert health["broker"]["transport"] == "redis" and health["database"]["dialect"] == "postgresql"
    run = _submit(redis_stack, digits_spec(epochs=3))
    _assert_trained(redis_stack, run["id"], epochs=3)


def test_cancel_running_run_ends_within_seconds(live_stack: Stack) -> None:
    import time

    run = _submit(live_stack, digits_spec(epochs=2000, seed=1))
    live_stack.wait_for_status(run["id"], {"running"}, timeout=60)
    with live_stack.client() as client:
        # Wait until it has really trained a little, so the cancel hits the training loop.
        deadline = time.monotonic() + 60
        while "test_top1" not in client.get(f"/runs/{run['id']}").json()["summary"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        asked = time.monotonic()
        assert client.post(f"/runs/{run['id']}/cancel").status_code == 200
    final = live_stack.wait_for_status(run["id"], {"cancelled", "succeeded", "failed"}, timeout=30)
    assert final["status"] == "cancelled"
    assert time.monotonic() - asked < 10


def test_cancel_queued_run_never_executes(live_stack: Stack) -> None:
    with live_stack.client() as client:
        # Occupy the single worker so the second run stays queued.
        blocker = _submit(live_stack, digits_spec(epochs=2000, seed=2))
        live_stack.wait_for_status(blocker["id"], {"running"}, timeout=60)
        queued = _submit(live_stack, digits_spec(seed=3))
        cancelled = client.post(f"/runs/{queued['id']}/cancel").json()
        assert cancelled["status"] == "cancelled"
        client.post(f"/runs/{blocker['id']}/cancel")
        live_stack.wait_for_status(blocker["id"], {"cancelled"}, timeout=30)
        again = client.get(f"/runs/{queued['id']}").json()
        assert again["status"] == "cancelled" and again["started_at"] is None


def test_retry_failed_run_runs_again_as_attempt_two(live_stack: Stack) -> None:
    # limit above the training-set size fails inside the engine with a clear message.
    run = _submit(live_stack, digits_spec(limit=100_000))
    failed = live_stack.wait_for_status(run["id"], {"failed", "succeeded"}, timeout=120)
    assert failed["status"] == "failed"
    assert "exceeds the" in failed["error"] and "training images" in failed["error"]
    with live_stack.client() as client:
        retried = client.post(f"/runs/{run['id']}/retry")
        assert retried.status_code == 202 and retried.json()["attempt"] == 2
    again = live_stack.wait_for_status(run["id"], {"failed", "succeeded"}, timeout=120)
    assert again["id"] == run["id"] and again["attempt"] == 2 and again["status"] == "failed"


def test_kd_and_xcl_gan_runs_load_their_teachers_checkpoints(live_stack: Stack) -> None:
    teachers = [_submit(live_stack, digits_spec(seed=10 + i, epochs=4), "lineage")["id"] for i in range(2)]
    generator = _submit(
        live_stack,
        digits_spec(model={"name": "cgan", "width": 0.25}, method={"name": "gan"}, epochs=2),
        "lineage",
    )
    for run_id in [*teachers, generator["id"]]:
        assert (
            live_stack.wait_for_status(run_id, {"succeeded", "failed"}, timeout=180)["status"] == "succeeded"
        )
    kd = _submit(
        live_stack, digits_spec(method={"name": "kd", "temperature": 2.0}, teachers=teachers), "lineage"
    )
    xcl = _submit(
        live_stack,
        digits_spec(method={"name": "xcl-gan", "generator_run": generator["id"]}, teachers=teachers),
        "lineage",
    )
    for run in (kd, xcl):
        done = live_stack.wait_for_status(run["id"], {"succeeded", "failed"}, timeout=180)
        assert done["status"] == "succeeded", done["error"]
        assert done["teachers"] == teachers
        assert done["summary"]["teacher_members"] == 2 and done["summary"]["teacher_test_top1"] > 80
        assert done["hparams"]["method_params"]["temperature"] == (2.0 if run is kd else 1.0)
    with live_stack.client() as client:
        wrong = client.post(
            "/runs",
            json={
                "experiment_id": kd["experiment_id"],
                "spec": digits_spec(
                    method={"name": "xcl-gan", "generator_run": teachers[0]}, teachers=teachers
                ),
            },
        )
        assert wrong.status_code == 422
        assert "not a generator" in wrong.json()["detail"][0]["msg"]


def test_grid_runs_teachers_then_releases_students(live_stack: Stack) -> None:
    definition = {
        "name": "e2e-grid",
        "task": "digits",
        "epochs": 2,
        "overrides": {"train_subset": 300},
        "teachers": [{"name": "ens", "members": 2, "model": {"name": "small-cnn", "width": 0.5}}],
        "students": {
            "models": [{"name": "small-cnn", "width": 0.25}],
            "seeds": [0],
            "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
        },
    }
    with live_stack.client() as client:
        grid = client.post("/grids", json={"definition": definition}).json()
        kd = next(c for c in grid["cells"] if c["key"].startswith("student/kd"))
        assert kd["status"] == "waiting"
        final = live_stack.wait_for_status(kd["run_id"], {"succeeded", "failed"}, timeout=180)
        assert final["status"] == "succeeded", final["error"]
        teacher_ids = [c["run_id"] for c in grid["cells"] if c["role"] == "teacher"]
        teachers = [client.get(f"/runs/{t}").json() for t in teacher_ids]
        # The student started only after both teachers had finished.
        assert all(t["finished_at"] <= final["started_at"] for t in teachers)
        done = client.get(f"/grids/{grid['id']}").json()
        assert done["done"] and done["counts"] == {"succeeded": 4}
        report = client.get(f"/grids/{grid['id']}/report").json()
        assert {r["method"] for r in report["rows"]} == {"erm", "kd"}
        assert report["ensemble_score"] is not None


def test_a_worker_reads_real_data_from_its_data_root(live_stack: Stack, tmp_path: Path) -> None:
    """XCL_DATA_ROOT on the worker is where a spec without data_root finds its dataset."""
    from tests.worker.training.data.test_cifar100 import write_cifar

    write_cifar(tmp_path / "data" / "cifar-100-python", n_train=40, n_test=20)
    env = {**live_stack.env, "XCL_DATA_ROOT": str(tmp_path / "data")}
    worker = start_process("worker-data-root", ["worker", "--queues", "data-root"], env, tmp_path / "logs")
    try:
        spec = {
            "task": "cifar100",
            "model": {"name": "resnet18-cifar", "width": 0.125},
            "method": {"name": "erm"},
            "overrides": {"batch_size": 16},
            "epochs": 1,
        }
        with live_stack.client() as client:
            exp = client.post("/experiments", json={"name": "data-root"}).json()
            run = client.post("/runs", json={"experiment_id": exp["id"], "spec": spec, "queue": "data-root"})
            assert run.status_code == 202, run.text
        done = live_stack.wait_for_status(run.json()["id"], {"succeeded", "failed"}, timeout=180)
        assert done["status"] == "succeeded", f"{done['error']}\n{worker.tail()}"
        assert "test_top1" in done["summary"]
    finally:
        worker.stop()

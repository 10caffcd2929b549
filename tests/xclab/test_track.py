"""`xclab.track` against a live API (SQLite, no worker): one-request runs with params, metrics sent in the
background and all stored on finish, retries through a faulty proxy, and the run's end status."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Stack, start_stack
from tests.xclab.faulty_proxy import faulty_proxy
from xclab import track
from xclab.client import ApiClient, ApiError
from xclab.metric_batcher import MetricBatcher


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("track"))
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture()
def api(stack: Stack) -> Iterator[ApiClient]:
    with ApiClient(stack.api_url, stack.token, retry_seconds=0) as client:
        yield client


def _history(api: ApiClient, run_id: int, key: str) -> list[tuple[int, float]]:
    return [(p["step"], p["value"]) for p in api.get_metric_history(run_id, key)]


def test_a_run_logs_like_mlflow_and_is_finished_by_the_with_block(stack: Stack, api: ApiClient) -> None:
    client = ApiClient(stack.api_url, stack.token)
    with track.start_run(
        name="laptop",
        params={"lr": 0.1, "arch": "resnet50"},
        experiment="tracking",
        client=client,
        interval=60,
    ) as run:
        assert run.params == {"lr": 0.1, "arch": "resnet50"}
        run.log_params({"epochs": 3})
        for step in range(2_500):
            run.log_metrics({"loss": 1 / (step + 1), "top1": step / 2_500}, step=step)
        run.log_metric("lr", 0.1)  # no step: 0, then 1
        run.log_metric("lr", 0.05)
    stored = api.get_run(run.id)
    assert (stored["status"], stored["kind"], stored["name"]) == ("succeeded", "tracking", "laptop")
    assert stored["params"] == {"lr": 0.1, "arch": "resnet50", "epochs": 3}
    assert _history(api, run.id, "loss") == [(s, 1 / (s + 1)) for s in range(2_500)]
    assert _history(api, run.id, "lr") == [(0, 0.1), (1, 0.05)]
    assert stored["summary"]["top1"] == 2_499 / 2_500
    # The experiment was made on first use and is found again by name.
    again = track.start_run(experiment="tracking", client=client)
    assert again.experiment_id == run.experiment_id
    again.finish()
    assert again.status == "succeeded"


def test_an_exception_fails_the_run_with_the_error_and_keeps_its_metrics(
    stack: Stack, api: ApiClient
) -> None:
    client = ApiClient(stack.api_url, stack.token)
    with pytest.raises(RuntimeError), track.start_run(client=client, experiment="tracking") as run:
        run.log_metrics({"loss": 0.5}, step=0)
        raise RuntimeError("diverged")
    stored = api.get_run(run.id)
    assert stored["status"] == "failed" and stored["error"] == "RuntimeError: diverged"
    assert _history(api, run.id, "loss") == [(0, 0.5)]


def test_a_run_cancelled_elsewhere_still_finishes_cleanly(stack: Stack, api: ApiClient) -> None:
    run = track.start_run(client=ApiClient(stack.api_url, stack.token), experiment="tracking")
    assert api.cancel_run(run.id)["status"] == "cancelled"
    run.log_metrics({"loss": 1.0}, step=0)
    run.finish()  # no error: the script ends normally
    # A cancelled run is final: the point logged after the cancel is refused, not stored.
    assert run.status == "cancelled" and api.list_metric_keys(run.id) == []


def test_bad_points_fail_at_the_call_and_changed_params_are_refused(stack: Stack) -> None:
    with track.start_run(client=ApiClient(stack.api_url, stack.token), params={"lr": 0.1}) as run:
        with pytest.raises(ValueError, match="finite"):
            run.log_metrics({"loss": float("nan")}, step=0)
        with pytest.raises(ValueError, match="metric key"):
            run.log_metrics({"a b": 1.0}, step=0)
        with pytest.raises(ApiError) as caught:
            run.log_params({"lr": 0.2})
        assert caught.value.status_code == 409


def test_a_step_never_waits_and_failed_batches_are_retried(stack: Stack, api: ApiClient) -> None:
    """Through a proxy that fails the first metric batch with a 503 and loses the answer of the second: every
    point arrives once; meanwhile log_metrics returned without waiting for any request."""
    experiment_id = api.ensure_experiment("tracking")["id"]
    run_id = api.start_tracking_run(experiment_id)["id"]
    path = f"/api/v1/runs/{run_id}/metrics"
    with faulty_proxy(stack.api_url) as proxy, ApiClient(proxy.url, stack.token, retry_seconds=20) as client:
        proxy.fail_next("POST", path, "503")
        proxy.fail_next("POST", path, "lost-answer")
        sent = threading.Event()

        class Watching:
            def log_metrics(self, run: int, points: list[dict]) -> int:
                sent.set()
                return client.log_metrics(run, points)

        batcher = MetricBatcher(Watching(), run_id, interval=0.05, max_batch=100)
        for step in range(1_000):
            batcher.log({"loss": float(step)}, step)
        batcher.close(timeout=60)
        assert sent.is_set() and batcher.pending == 0
        assert proxy.count("POST", path) == 10 + 2
    assert _history(api, run_id, "loss") == [(s, float(s)) for s in range(1_000)]


def test_flush_reports_a_refused_batch(stack: Stack, api: ApiClient) -> None:
    batcher = MetricBatcher(api, 424242, interval=0.05)
    batcher.log({"loss": 1.0}, 0)
    deadline = time.monotonic() + 30
    while batcher.pending and time.monotonic() < deadline:  # refused before anyone flushes: still reported
        time.sleep(0.05)
    time.sleep(0.5)
    with pytest.raises(ApiError) as caught:
        batcher.flush(timeout=30)
    assert caught.value.status_code == 404
    batcher.close(timeout=30)


def test_the_module_reads_the_api_from_the_environment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from xclab.settings import get_settings

    monkeypatch.setenv("XCL_API_URL", stack.api_url)
    monkeypatch.setenv("XCL_API_TOKEN", stack.token)
    monkeypatch.setenv("XCL_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        with track.start_run(name="from-env") as run:
            run.log_metrics({"x": 1.0})
        assert run.status == "succeeded"
    finally:
        get_settings.cache_clear()

"""The REST client against the real API: its one error type, and which requests it retries.

Transport faults come from a proxy in front of the live API (tests/xclab/faulty_proxy.py), so that every answer
that does arrive is the real API's."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Stack, digits_spec, free_port
from tests.xclab.faulty_proxy import FaultyProxy, faulty_proxy
from xclab.client import ApiClient, ApiError, ApiUnavailable

# No worker listens on this queue: runs submitted to it stay queued and cost no training time.
PARKED_QUEUE = "client-parked"


@pytest.fixture(scope="module")
def api(live_stack: Stack) -> Iterator[ApiClient]:
    with ApiClient(live_stack.api_url, live_stack.token, retry_seconds=0) as client:
        yield client


@pytest.fixture()
def proxy(live_stack: Stack) -> Iterator[FaultyProxy]:
    with faulty_proxy(live_stack.api_url) as proxy:
        yield proxy


@pytest.fixture()
def through_proxy(proxy: FaultyProxy, live_stack: Stack) -> Iterator[ApiClient]:
    with ApiClient(proxy.url, live_stack.token, retry_seconds=20) as client:
        yield client


def parked_run(api: ApiClient, experiment: str) -> dict[str, Any]:
    experiment_id = api.create_experiment(experiment)["id"]
    return api.submit_run(experiment_id, digits_spec(), queue=PARKED_QUEUE)


# ---------------------------------------------------------------- the one error type


def test_a_validation_error_carries_field_errors(api: ApiClient) -> None:
    experiment_id = api.create_experiment("client-422")["id"]
    with pytest.raises(ApiError) as caught:
        api.submit_run(experiment_id, digits_spec(model={"name": "small-cnn", "width": -1}))
    err = caught.value
    assert err.status_code == 422 and not isinstance(err, ApiUnavailable)
    [field] = [e for e in err.field_errors if e["loc"][-1] == "width"]
    assert field["loc"] == ["body", "spec", "model", "width"] and "greater than 0" in field["msg"]
    assert str(err).startswith(
        "422 Unprocessable"
    ) and "body.spec.model.width: Input should be greater" in str(err)


def test_a_refusal_carries_the_api_detail(api: ApiClient, live_stack: Stack) -> None:
    with pytest.raises(ApiError) as missing:
        api.get_run(10**9)
    assert missing.value.status_code == 404 and missing.value.field_errors == []
    assert str(missing.value) == f"404 Not Found: {missing.value.detail}" and "run" in missing.value.detail
    with ApiClient(live_stack.api_url, token=None, retry_seconds=0) as anonymous:
        with pytest.raises(ApiError) as refused:
            anonymous.create_experiment("client-no-token")
    assert refused.value.status_code == 401 and "set XCL_API_TOKEN" in refused.value.message


def test_an_unreachable_api_is_api_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    with ApiClient(url, retry_seconds=0) as client:
        with pytest.raises(ApiUnavailable) as caught:
            client.health()
    err = caught.value
    assert isinstance(err, ApiError) and err.status_code is None and err.url == url
    assert str(err).startswith(f"cannot reach the XCL Lab API at {url}: ConnectError")
    assert err.attempts == 1


def test_errors_survive_pickling() -> None:
    # Celery's pool sends a task's exception from the child process to the parent by pickle.
    for err in (
        ApiError(409, "run 1 is running", "Conflict", attempts=2),
        ApiUnavailable("http://x", "down"),
    ):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err) and copy.message == err.message and copy.attempts == err.attempts


# ---------------------------------------------------------------- what is retried


def test_a_get_is_retried_through_an_outage(
    through_proxy: ApiClient, proxy: FaultyProxy, api: ApiClient
) -> None:
    run = parked_run(api, "client-retried-get")
    path = f"/api/v1/runs/{run['id']}"
    proxy.fail_next("GET", path, "503")
    proxy.fail_next("GET", path, "lost-answer")
    assert through_proxy.get_run(run["id"])["id"] == run["id"]
    assert proxy.count("GET", path) == 3


def test_connection_refused_is_retried_for_reads_only() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with ApiClient(url, retry_seconds=1.0) as client:
        started = time.monotonic()
        with pytest.raises(ApiUnavailable) as read:
            client.health()
        assert read.value.attempts > 1 and time.monotonic() - started >= 1.0
        with pytest.raises(ApiUnavailable) as write:
            client.create_experiment("never-sent")
        assert write.value.attempts == 1


def test_a_submit_whose_answer_is_lost_is_not_sent_again(
    through_proxy: ApiClient, proxy: FaultyProxy, api: ApiClient
) -> None:
    experiment_id = api.create_experiment("client-lost-submit")["id"]
    proxy.fail_next("POST", "/api/v1/runs", "lost-answer")
    with pytest.raises(ApiUnavailable) as caught:
        through_proxy.submit_run(experiment_id, digits_spec(), queue=PARKED_QUEUE)
    assert caught.value.attempts == 1 and proxy.count("POST", "/api/v1/runs") == 1
    # The API did create the run; a resend would have created a second one.
    assert len(api.list_runs(experiment_id=experiment_id)["data"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("POST", "/api/v1/grids", lambda c, _: c.submit_grid({"name": "never"})),
        ("POST", "/api/v1/experiments", lambda c, _: c.create_experiment("never")),
        ("POST", "/api/v1/runs/{id}/cancel", lambda c, run_id: c.cancel_run(run_id)),
        ("POST", "/api/v1/runs/{id}/retry", lambda c, run_id: c.retry_run(run_id)),
    ],
    ids=["submit_grid", "create_experiment", "cancel_run", "retry_run"],
)
def test_user_actions_are_not_retried_on_a_503(
    through_proxy: ApiClient, proxy: FaultyProxy, api: ApiClient, method: str, path: str, call: Any
) -> None:
    run = parked_run(api, f"client-503-{path.rsplit('/', 1)[-1]}")
    path = path.format(id=run["id"])
    proxy.fail_next(method, path, "503")
    with pytest.raises(ApiError) as caught:
        call(through_proxy, run["id"])
    assert caught.value.status_code == 503 and proxy.count(method, path) == 1


def test_an_upload_streams_the_file_and_sends_it_whole_again_on_a_retry(
    through_proxy: ApiClient, proxy: FaultyProxy, api: ApiClient, tmp_path: Path
) -> None:
    run = parked_run(api, "client-upload")
    file = tmp_path / "checkpoint.pt"
    file.write_bytes(os.urandom(3 * (1 << 20) + 17))  # several chunks, the last one short
    path = f"/api/v1/runs/{run['id']}/artifacts/resume/checkpoint.pt"
    proxy.fail_next("PUT", path, "503")
    proxy.fail_next("PUT", path, "lost-answer")
    stored = through_proxy.upload_artifact(run["id"], "resume/checkpoint.pt", file, kind="resume", attempt=1)
    assert proxy.count("PUT", path) == 3
    assert (
        stored["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        and stored["size"] == file.stat().st_size
    )
    assert api.read_artifact(run["id"], "resume/checkpoint.pt") == file.read_bytes()


def test_a_worker_rides_out_lost_answers(
    through_proxy: ApiClient, proxy: FaultyProxy, api: ApiClient
) -> None:
    """Claim, metrics and finish are safe to repeat; a claim or finish whose answer was lost is read back."""
    run = parked_run(api, "client-lost-worker-answers")
    base = f"/api/v1/runs/{run['id']}"

    proxy.fail_next("POST", f"{base}/claim", "lost-answer")
    claimed = through_proxy.claim_run(run["id"], "client-test-host", run["attempt"])
    assert claimed["status"] == "running" and claimed["worker_host"] == "client-test-host"
    assert proxy.count("POST", f"{base}/claim") == 2
    with pytest.raises(ApiError) as again:  # a claim refused at its first try stays refused
        through_proxy.claim_run(run["id"], "client-test-host", run["attempt"])
    assert again.value.status_code == 409 and again.value.attempts == 1

    proxy.fail_next("POST", f"{base}/metrics", "lost-answer")
    assert through_proxy.log_metrics(run["id"], [{"key": "loss", "step": 1, "value": 0.5}]) == 1
    assert api.get_metric_history(run["id"], "loss") == [{"step": 1, "value": 0.5}]

    proxy.fail_next("POST", f"{base}/heartbeat", "503")
    assert through_proxy.heartbeat_run(run["id"])["status"] == "running"

    proxy.fail_next("POST", f"{base}/finish", "lost-answer")
    finished = through_proxy.finish_run(run["id"], "failed", "stopped by the client test")
    assert finished["status"] == "failed" and proxy.count("POST", f"{base}/finish") == 2


def test_a_lost_claim_taken_by_another_host_is_not_ours(
    through_proxy: ApiClient, proxy: FaultyProxy, api: ApiClient
) -> None:
    run = parked_run(api, "client-claim-elsewhere")
    api.claim_run(run["id"], "another-host", run["attempt"])
    proxy.fail_next("POST", f"/api/v1/runs/{run['id']}/claim", "503")
    with pytest.raises(ApiError) as caught:
        through_proxy.claim_run(run["id"], "client-test-host", run["attempt"])
    assert caught.value.status_code == 409 and caught.value.attempts == 2
    api.finish_run(run["id"], "failed", "stopped by the client test")

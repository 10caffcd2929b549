"""Reproducibility through the API: the worker's environment report, repeating a finished run, and the exact
comparison of the two, on real SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import digits_spec

ENV = {"versions": {"torch": "2.0", "numpy": "2.0"}, "threads": 1, "device": "cpu", "hparams_sha256": "ab"}


def _finished_run(api: TestClient, exp: int, values: dict[str, float], env: dict) -> int:
    run = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(seed=3)}).json()
    rid = run["id"]
    assert api.post(f"/api/v1/runs/{rid}/claim", json={"worker_host": "w1"}).status_code == 200
    assert api.put(f"/api/v1/runs/{rid}/environment", json=env).status_code == 200
    points = [{"key": k, "step": s, "value": v + s} for k, v in values.items() for s in (1, 2)]
    points.append({"key": "epoch_seconds", "step": 1, "value": float(rid)})  # timings never compared
    points.append({"key": "system/rss_mb", "step": rid, "value": 100.0 + rid})  # nor system samples
    assert api.post(f"/api/v1/runs/{rid}/metrics", json={"metrics": points}).status_code == 200
    assert api.post(f"/api/v1/runs/{rid}/finish", json={"status": "succeeded"}).status_code == 200
    return rid


def test_rerun_repeats_a_finished_run_and_compares_exactly(api: TestClient) -> None:
    exp = api.post("/api/v1/experiments", json={"name": "repro"}).json()["id"]
    first = _finished_run(api, exp, {"test_top1": 90.0, "train_loss": 0.5}, ENV)
    detail = api.get(f"/api/v1/runs/{first}").json()
    assert detail["environment"] == ENV and detail["rerun_of"] is None

    rerun = api.post(f"/api/v1/runs/{first}/rerun")
    assert rerun.status_code == 202, rerun.text
    again = rerun.json()
    assert again["rerun_of"] == first and again["status"] == "queued"
    assert again["spec"] == detail["spec"] and again["hparams"] == detail["hparams"]
    assert api.post(f"/api/v1/runs/{again['id']}/rerun").status_code == 409  # not finished yet

    # A faithful repeat on another host: identical, the host named as the one environment difference.
    same = _finished_run(api, exp, {"test_top1": 90.0, "train_loss": 0.5}, {**ENV, "host": "other"})
    report = api.get(f"/api/v1/runs/{first}/compare/{same}").json()
    assert report["identical"] and report["first_divergence"] is None and report["compared_points"] == 4
    assert report["environment_diff"] == {"host": {"a": None, "b": "other"}}

    # One metric off in its last bit at step 2, with more threads.
    off = _finished_run(api, exp, {"test_top1": 90.0, "train_loss": 0.5 + 2**-50}, {**ENV, "threads": 2})
    report = api.get(f"/api/v1/runs/{first}/compare/{off}").json()
    assert not report["identical"]
    assert report["first_divergence"] == {"step": 1, "key": "train_loss", "a": 1.5, "b": 1.5 + 2**-50}
    assert report["environment_diff"] == {"threads": {"a": 1, "b": 2}}
    # A queued run is not identical to anything: it has not finished.
    report = api.get(f"/api/v1/runs/{first}/compare/{again['id']}").json()
    assert not report["identical"] and report["problems"] == [f"run {again['id']} is queued"]


def test_environment_is_reported_only_while_running_and_bounded(api: TestClient) -> None:
    exp = api.post("/api/v1/experiments", json={"name": "env"}).json()["id"]
    rid = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()}).json()["id"]
    assert api.put(f"/api/v1/runs/{rid}/environment", json=ENV).status_code == 409  # queued
    api.post(f"/api/v1/runs/{rid}/claim", json={"worker_host": "w1"})
    too_big = api.put(f"/api/v1/runs/{rid}/environment", json={"x": "y" * 70_000})
    assert too_big.status_code == 422 and "at most 65536" in too_big.text
    assert api.put(f"/api/v1/runs/{rid}/environment", json=[1, 2]).status_code == 422
    assert api.post("/api/v1/runs/424242/rerun").status_code == 404
    assert api.get(f"/api/v1/runs/{rid}/compare/424242").status_code == 404

"""Run logs over HTTP on SQLite and PostgreSQL: only the worker holding the run appends, a retried chunk is
stored once, pages follow the cursor, limits answer 413/422 naming the field, the per-run cap cuts the log with a
marker, and a finished run is final."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.limits import LOG_CHUNK_CHARS, LOG_CHUNKS_PER_REQUEST
from tests.backend.conftest import TOKEN
from tests.support import digits_spec
from xclab.settings import Settings


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(api: TestClient, role: str, name: str) -> str:
    response = api.post("/api/v1/tokens", json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def _claimed_run(api: TestClient, worker: str) -> int:
    exp = api.post("/api/v1/experiments", json={"name": "logs"}).json()["id"]
    run = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()}).json()["id"]
    claim = api.post(f"/api/v1/runs/{run}/claim", json={"worker_host": "h"}, headers=_as(worker))
    assert claim.status_code == 200, claim.text
    return run


def _chunks(*seqs: int, text: str = "line {seq}\n") -> dict[str, object]:
    return {"chunks": [{"seq": s, "stream": "stdout", "text": text.format(seq=s)} for s in seqs]}


def test_the_holding_worker_appends_idempotently_and_readers_follow_the_cursor(api: TestClient) -> None:
    worker = _token(api, "worker", "w1")
    run = _claimed_run(api, worker)
    url = f"/api/v1/runs/{run}/logs"
    assert api.get(url).json() == {
        "run_id": run,
        "chunks": [],
        "next_after_seq": -1,
        "total_bytes": 0,
        "truncated": False,
    }
    assert api.post(url, json=_chunks(0, 1, 2), headers=_as(worker)).json() == {
        "written": 3,
        "truncated": False,
    }
    # A retried request (1, 2) plus a new chunk, sent out of order: only 3 is stored, and reads stay in order.
    assert api.post(url, json=_chunks(3, 2, 1), headers=_as(worker)).json()["written"] == 1
    err = {"chunks": [{"seq": 4, "stream": "stderr", "text": "Traceback (most recent call last):\n"}]}
    assert api.post(url, json=err, headers=_as(worker)).status_code == 200
    page = api.get(url, params={"limit": 2}).json()
    assert [c["text"] for c in page["chunks"]] == ["line 0\n", "line 1\n"] and page["next_after_seq"] == 1
    rest = api.get(url, params={"after_seq": page["next_after_seq"]}).json()
    assert [(c["seq"], c["stream"]) for c in rest["chunks"]] == [(2, "stdout"), (3, "stdout"), (4, "stderr")]
    assert rest["total_bytes"] == 4 * len("line 0\n") + len("Traceback (most recent call last):\n")
    tail = api.get(url, params={"tail": True, "limit": 2}).json()
    assert [c["seq"] for c in tail["chunks"]] == [3, 4] and tail["next_after_seq"] == 4
    assert api.get(url, params={"after_seq": 4}).json()["chunks"] == []
    assert api.get("/api/v1/runs/424242/logs").status_code == 404


def test_only_the_worker_holding_the_run_may_append(api: TestClient) -> None:
    worker, other, user = _token(api, "worker", "w1"), _token(api, "worker", "w2"), _token(api, "user", "u")
    run = _claimed_run(api, worker)
    url = f"/api/v1/runs/{run}/logs"
    for headers in (_as(other), _as(user)):
        refused = api.post(url, json=_chunks(0), headers=headers)
        assert refused.status_code == 403, refused.text
    assert api.post(url, json=_chunks(0), headers={"Authorization": ""}).status_code == 401
    assert api.get(url).json()["chunks"] == []  # nothing slipped through
    assert api.post(url, json=_chunks(0), headers=_as(worker)).status_code == 200
    assert api.get(url, headers=_as(user)).json()["total_bytes"] == len("line 0\n")  # a user reads it


def test_limits_answer_413_and_422_naming_the_field(api: TestClient) -> None:
    worker = _token(api, "worker", "w1")
    url = f"/api/v1/runs/{_claimed_run(api, worker)}/logs"

    def loc(body: object) -> list[object]:
        response = api.post(url, json=body, headers=_as(worker))
        assert response.status_code == 422, response.text
        return response.json()["detail"][0]["loc"]

    assert loc(_chunks(0, text="x" * (LOG_CHUNK_CHARS + 1))) == ["body", "chunks", 0, "text"]
    assert loc(_chunks(*range(LOG_CHUNKS_PER_REQUEST + 1))) == ["body", "chunks"]
    assert loc(_chunks(-1)) == ["body", "chunks", 0, "seq"]
    assert loc({"chunks": [{"seq": 0, "stream": "video", "text": "x"}]}) == ["body", "chunks", 0, "stream"]
    assert loc(_chunks(0, text="nul \x00")) == ["body", "chunks", 0, "text"]
    big = api.post(url, json=_chunks(*range(40), text="y" * LOG_CHUNK_CHARS), headers=_as(worker))
    assert big.status_code == 413 and "2,097,152 bytes" in big.json()["detail"]
    assert api.get(url, params={"limit": 0}).status_code == 422
    assert api.get(url).json()["total_bytes"] == 0


@pytest.fixture()
def small_cap_api(settings: Settings) -> Iterator[TestClient]:
    capped = settings.model_copy(update={"max_log_bytes_per_run": 1024})
    with TestClient(create_app(capped), headers=_as(TOKEN)) as client:
        yield client


def test_the_per_run_cap_cuts_the_log_with_a_marker(small_cap_api: TestClient) -> None:
    api = small_cap_api
    worker = _token(api, "worker", "w1")
    url = f"/api/v1/runs/{_claimed_run(api, worker)}/logs"
    first = api.post(url, json=_chunks(0, 1, text="a" * 400), headers=_as(worker)).json()
    assert first == {"written": 2, "truncated": False}
    # 800 of 1,024 bytes used: the next chunk keeps 224 bytes and the marker; later chunks are dropped.
    cut = api.post(url, json=_chunks(2, 3, text="é" * 300), headers=_as(worker)).json()
    assert cut == {"written": 1, "truncated": True}
    assert api.post(url, json=_chunks(4), headers=_as(worker)).json() == {"written": 0, "truncated": True}
    page = api.get(url).json()
    assert [c["seq"] for c in page["chunks"]] == [0, 1, 2] and page["truncated"] is True
    last = page["chunks"][-1]["text"]
    assert last.startswith("é" * 112) and "log truncated" in last and "1,024 bytes" in last
    # A retry of a chunk stored before the cut changes nothing.
    assert api.post(url, json=_chunks(1, text="a" * 400), headers=_as(worker)).json()["written"] == 0


def test_a_finished_run_is_final(api: TestClient) -> None:
    worker = _token(api, "worker", "w1")
    run = _claimed_run(api, worker)
    url = f"/api/v1/runs/{run}/logs"
    assert api.post(url, json=_chunks(0), headers=_as(worker)).status_code == 200
    done = api.post(
        f"/api/v1/runs/{run}/finish", json={"status": "failed", "error": "x"}, headers=_as(worker)
    )
    assert done.status_code == 200
    late = api.post(url, json=_chunks(1), headers=_as(worker))
    assert late.status_code == 409 and "final" in late.json()["detail"]
    assert [c["seq"] for c in api.get(url).json()["chunks"]] == [0]


def test_overlapping_retries_of_one_batch_store_it_once_without_an_error(
    api: TestClient, database_url: str
) -> None:
    """A retry sent while the first request is still open (a client read timeout): on SQLite both find the chunks
    missing (there is no row lock), and the second must skip them rather than fail on the unique key."""
    import threading
    import time

    from backend.db import make_engine, make_session_factory
    from backend.store.logs import LogChunk, append_logs

    run = _claimed_run(api, _token(api, "worker", "w-race"))
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    chunks = [LogChunk(i, "stdout", f"line {i}\n") for i in range(3)]
    first_written, results = threading.Event(), {}

    def first() -> None:
        with factory() as session:
            results["first"] = append_logs(session, run, chunks, 10**6)
            first_written.set()
            time.sleep(0.5)  # still open while the retry reads
            session.commit()

    def retry() -> None:
        first_written.wait()
        with factory() as session:
            try:
                results["retry"] = append_logs(session, run, chunks, 10**6)
                session.commit()
            except Exception as exc:  # the failure this test is about
                results["retry"] = repr(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=retry)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert results == {"first": (3, False), "retry": (0, False)}
    page = api.get(f"/api/v1/runs/{run}/logs").json()
    assert [c["seq"] for c in page["chunks"]] == [0, 1, 2]


def test_an_empty_chunk_is_refused(api: TestClient) -> None:
    worker = _token(api, "worker", "w-empty")
    run = _claimed_run(api, worker)
    bad = api.post(f"/api/v1/runs/{run}/logs", json=_chunks(0, text=""), headers=_as(worker))
    assert bad.status_code == 422 and "text" in bad.text

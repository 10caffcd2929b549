"""Input limits: 413 for oversized bodies before parsing, 422 naming the field for JSON the service cannot
store (NaN, Infinity, lone surrogates, NUL, integers past 64 bits), never a 500; on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.limits import DEFAULT_BODY_LIMIT, _find_problem, _float, _maybe_refused, _NonFinite, check_json
from tests.backend.conftest import TOKEN
from tests.support import digits_spec
from xclab.settings import Settings


def _run(api: TestClient) -> int:
    exp = api.post("/api/v1/experiments", json={"name": "lim"}).json()["id"]
    return api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec()}).json()["id"]


def _raw(api: TestClient, method: str, url: str, text: str):  # type: ignore[no-untyped-def]
    return api.request(
        method,
        url,
        content=text.encode("utf-8", "surrogatepass"),
        headers={"content-type": "application/json"},
    )


def test_an_oversized_body_is_413_before_parsing(api: TestClient) -> None:
    big = '{"name": "x", "description": "' + "a" * (DEFAULT_BODY_LIMIT + 10) + '"}'
    response = _raw(api, "POST", "/api/v1/experiments", big)
    assert response.status_code == 413 and "at most" in response.json()["detail"]
    run_id = _run(api)
    batch = '{"metrics": [' + ",".join(['{"key": "loss", "step": 1, "value": 1.0}'] * 120_000) + "]}"
    assert _raw(api, "POST", f"/api/v1/runs/{run_id}/metrics", batch).status_code == 413


def test_artifact_size_is_enforced_declared_or_streamed(settings: Settings) -> None:
    small = settings.model_copy(update={"max_artifact_bytes": 1000})
    with TestClient(create_app(small), headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        run_id = _run(api)
        url = f"/api/v1/runs/{run_id}/artifacts/big.bin"
        assert api.put(url, content=b"x" * 1001).status_code == 413  # Content-Length says so
        streamed = api.put(url, content=iter([b"x" * 600, b"x" * 600]))  # chunked: counted as it arrives
        assert streamed.status_code == 413, streamed.text
        assert api.get(url).status_code == 404  # nothing recorded
        assert api.put(url, content=b"x" * 1000).status_code == 200


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ('{"metrics": [{"key": "loss", "step": 1, "value": NaN}]}', ["body", "metrics", 0, "value"]),
        ('{"metrics": [{"key": "loss", "step": 1, "value": Infinity}]}', ["body", "metrics", 0, "value"]),
        (
            '{"metrics": [{"key": "loss", "step": 99999999999999999999999, "value": 1}]}',
            ["body", "metrics", 0, "step"],
        ),
        ('{"metrics": [{"key": "lo\\u0000ss", "step": 1, "value": 1}]}', ["body", "metrics", 0, "key"]),
        ('{"metrics": [{"key": "\\ud800", "step": 1, "value": 1}]}', ["body", "metrics", 0, "key"]),
        # JSON allows 1e309, a 64-bit float holds infinity: a wall_time that would be stored as -inf
        (
            '{"metrics": [{"key": "loss", "step": 1, "value": 1, "wall_time": -1e309}]}',
            ["body", "metrics", 0, "wall_time"],
        ),
    ],
)
def test_unstorable_json_is_422_naming_the_field(api: TestClient, body: str, loc: list) -> None:
    run_id = _run(api)
    response = _raw(api, "POST", f"/api/v1/runs/{run_id}/metrics", body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_a_tracking_run_param_beyond_a_float_is_422_naming_it(api: TestClient) -> None:
    experiment = api.post("/api/v1/experiments", json={"name": "big"}).json()["id"]
    body = f'{{"experiment_id": {experiment}, "params": {{"lr": 1e400}}}}'
    response = _raw(api, "POST", "/api/v1/runs", body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "params", "lr"]
    assert "beyond a 64-bit float" in response.json()["detail"][0]["msg"]
    assert api.get("/api/v1/runs", params={"experiment_id": experiment}).json()["data"] == []


@pytest.mark.parametrize(
    "text", ['{"name": "a\\u0000b"}', '{"name": "\\udc00x"}', '{"name": "ok", "description": "\\ud83d"}']
)
def test_text_fields_refuse_nul_and_surrogates(api: TestClient, text: str) -> None:
    response = _raw(api, "POST", "/api/v1/experiments", text)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][0] == "body"


def test_huge_integers_in_path_and_query_are_422(api: TestClient) -> None:
    huge = "9" * 30
    response = api.get(f"/api/v1/runs/{huge}")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "runs"]
    response = api.get("/api/v1/runs", params={"experiment_id": huge})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "experiment_id"]
    assert api.get("/api/v1/runs", params={"task": "a\x00b"}).status_code == 422
    assert api.get(f"/api/v1/runs/{2**31 - 1}").status_code == 404
    assert api.get(f"/api/v1/runs/{2**31}").status_code == 422
    # Past a 32-bit column: an empty page on SQLite, a 422 on PostgreSQL; never a 500.
    assert api.get("/api/v1/runs", params={"experiment_id": 2**40}).status_code in {200, 422}


def test_a_validation_error_never_echoes_what_cannot_be_encoded(api: TestClient) -> None:
    # A long name fails pydantic's own length check; the echo is truncated, not 1 MB of text back.
    response = api.post("/api/v1/experiments", json={"name": "n" * 5000})
    assert response.status_code == 422 and len(response.text) < 2000


@pytest.mark.parametrize(
    "body",
    [
        b'{"metrics": [{"key": "loss", "step": 1, "value": 0.5, "wall_time": 1700000000.25}]}',
        b'{"a": NaN}',
        b'{"a": [1, -Infinity]}',
        b'{"NaN": "Infinity"}',
        b'{"a": "x\\u0000"}',
        b'{"\\u0000": 1}',
        b'{"a": "\\ud800"}',
        b'{"a": "\\uDFFF"}',
        b'{"a": "\\ud83d\\ude00"}',
        b'{"a": "\\u00e9\\\\u0000"}',
        b'{"a": 9223372036854775807}',
        b'{"a": -9223372036854775809}',
        b'{"a": 12345678901234567890}',
        b'{"a": 0.12345678901234567890}',
        b'{"a": 1e309}',
        b'{"a": [-2.5E+400]}',
        b'{"a": 1e-400}',
        b'{"a": 1.7e308}',
        b'{"a": 1e200}',
        b'{"a": "1e999"}',
        '{"a": 1}'.encode("utf-16"),
        b'{"a": "\x00"}',
        b"not json",
    ],
)
def test_the_byte_scan_never_lets_a_refused_body_through(body: bytes) -> None:
    """check_json skips the walk when a scan of the bytes finds nothing it could refuse: same verdicts."""
    try:
        parsed = json.loads(body, parse_constant=_NonFinite, parse_float=_float)
    except ValueError:
        walked = None
    else:
        found = _find_problem(parsed, ["body"])
        walked = None if found is None else (found[0], found[1])
    checked = check_json(body)
    assert (checked and (checked["loc"], checked["msg"])) == walked
    if walked is not None:
        assert _maybe_refused(body)


def test_a_json_body_not_sent_as_json_is_422_not_500(api: TestClient) -> None:
    answer = api.post(
        "/api/v1/experiments", content=b'{"name": "\xff"}', headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body"] and error["input"] == '{"name": "\\xff"}'

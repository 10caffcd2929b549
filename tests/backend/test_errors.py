"""One helper builds every 422 entry the backend raises itself, in FastAPI's own shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from backend.errors import Invalid, field_error, invalid, pydantic_errors, spec_errors
from xclab.spec import SpecIssue


def test_field_error_has_fastapis_keys() -> None:
    assert field_error(("query", "sort"), "bad", "x") == {
        "type": "value_error",
        "loc": ["query", "sort"],
        "msg": "bad",
        "input": "x",
    }
    error = invalid(("query", "grid_id"), "missing", type="missing")
    assert isinstance(error, Invalid) and error.status_code == 422
    assert error.detail == [{"type": "missing", "loc": ["query", "grid_id"], "msg": "missing", "input": None}]


def test_spec_and_model_errors_are_located_under_a_prefix() -> None:
    issue = SpecIssue(("teachers", 1), "teacher run 9 does not exist", 9)
    assert spec_errors([issue], ("body", "spec")) == [
        field_error(["body", "spec", "teachers", 1], "teacher run 9 does not exist", 9)
    ]

    class Point(BaseModel):
        step: int

    with pytest.raises(ValidationError) as err:
        Point.model_validate({"step": "x"})
    [entry] = pydantic_errors(err.value, ("body", "cells", "a"))
    assert entry["loc"] == ["body", "cells", "a", "step"] and entry["type"] == "int_parsing"
    assert list(entry) == ["type", "loc", "msg", "input"] and entry["input"] == "x"


def test_backend_422s_read_like_fastapis_own(api: TestClient) -> None:
    ours = api.get("/api/v1/runs", params={"sort": "colour"}).json()["detail"]
    fastapis = api.get("/api/v1/runs", params={"limit": "many"}).json()["detail"]
    assert [set(e) >= {"type", "loc", "msg", "input"} for e in ours + fastapis] == [True, True]
    artifact = api.put("/api/v1/runs/1/artifacts/a%5Cb", content=b"x")
    assert artifact.status_code == 422 and artifact.json()["detail"][0]["loc"] == ["path", "path"]

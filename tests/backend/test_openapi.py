"""Every endpoint declares what it answers: OpenAPI names a response model for each JSON success response."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import make_grid
from xclab.catalog import catalog_dict

# Answers that are not JSON bodies: an artifact's bytes, a 204, and the docs redirect.
NOT_JSON = {("get", "/api/v1/runs/{run_id}/artifacts/{path}"), ("delete", "/api/v1/views/{view_id}")}


def _success(operation: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(code, response)] = [(c, r) for c, r in operation["responses"].items() if c.startswith("2")]
    return code, response


def test_every_json_endpoint_names_its_response_model(api: TestClient) -> None:
    spec = api.get("/api/v1/openapi.json").json()
    untyped = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method, path) in NOT_JSON:
                continue
            code, response = _success(operation)
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            refs = [schema] if "$ref" in schema else schema.get("anyOf", [])
            if not refs or not all("$ref" in r for r in refs):
                untyped.append((method, path, code, schema))
    assert untyped == []
    for name in (
        "HealthOut",
        "CatalogOut",
        "GridsPage",
        "BuiltinGridsPage",
        "GridReport",
        "GapView",
        "CostView",
    ):
        assert name in spec["components"]["schemas"]


def test_catalog_is_served_as_the_core_defines_it(api: TestClient) -> None:
    assert api.get("/api/v1/catalog").json() == catalog_dict()


def test_health_and_grid_lists_keep_their_fields(api: TestClient) -> None:
    health = api.get("/api/v1/health").json()
    assert list(health) == ["status", "version", "database", "broker"]
    assert list(health["database"]) == ["ok", "detail", "dialect", "revision", "head"]
    assert list(health["broker"]) == ["ok", "detail", "transport"]
    builtin = api.get("/api/v1/grids/builtin").json()["data"]
    assert builtin and all(list(g) == ["name", "yaml"] for g in builtin)
    definition = {
        "name": "g",
        "task": "digits",
        "students": {"models": [{"name": "small-cnn"}], "methods": [{"name": "erm"}]},
    }
    make_grid(api, definition)
    for cells in (True, False):
        [grid] = api.get("/api/v1/grids", params={"cells": cells}).json()["data"]
        assert list(grid) == [
            "id",
            "experiment_id",
            "name",
            "task",
            "definition",
            "created_at",
            "counts",
            "done",
            "cells",
        ]
        assert grid["counts"] == {"queued": 1} and (len(grid["cells"]) == 1) == cells

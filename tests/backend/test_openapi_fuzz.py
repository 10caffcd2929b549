"""A bounded schemathesis run over the OpenAPI document: every operation gets generated requests, valid and
not, with the admin token, against the real app on SQLite and PostgreSQL; no answer may be a 5xx.

XCL_FUZZ_EXAMPLES sets the examples per operation (default 25: about 1,200 requests, a couple of minutes per
database); the figures in docs/reliability.md come from a larger run of this same test."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from tests.backend.conftest import TOKEN
from tests.support import digits_spec
from xclab.settings import Settings

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

EXAMPLES = int(os.environ.get("XCL_FUZZ_EXAMPLES", "25"))
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def seeded_app(settings: Settings) -> Iterator[object]:
    """The app with one of everything (ids 1), so generated ids also reach existing rows."""
    app = create_app(settings)
    with TestClient(app, headers=AUTH) as api:
        exp = api.post("/api/v1/experiments", json={"name": "fuzz"}).json()["id"]
        run = api.post(
            "/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(), "queue": "parked"}
        ).json()
        api.post(
            f"/api/v1/runs/{run['id']}/metrics", json={"metrics": [{"key": "loss", "step": 1, "value": 1.0}]}
        )
        api.put(f"/api/v1/runs/{run['id']}/artifacts/model.pt", content=b"bytes")
        api.post("/api/v1/views", json={"name": "v"})
        grid = {
            "name": "g",
            "task": "digits",
            "queue": "parked",
            "students": {"models": [{"name": "small-cnn"}], "methods": [{"name": "erm"}]},
        }
        api.post("/api/v1/grids", json={"definition": grid})
        yield app


def test_no_generated_request_gets_a_server_error(seeded_app: object) -> None:
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", seeded_app)
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def probe(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=AUTH)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
                )

        probe()
    sys.stdout.write(
        f"\n{sum(statuses.values())} requests over the OpenAPI operations; statuses: {dict(sorted(statuses.items()))}\n"
    )
    assert not errors, "\n".join(errors[:20])

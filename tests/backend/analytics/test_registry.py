"""The view registry behind GET /analytics/{view}: what is registered, how unknown names are answered, and what
OpenAPI says about each view."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from backend.analytics import cost, entropy, gap, lineage, student_size
from backend.analytics.registry import VIEWS, get_view, register_view
from backend.errors import NotFound
from tests.factories import make_grid

EXPECTED = {
    "gap": (gap.gap, gap.GapView),
    "entropy": (entropy.entropy, entropy.EntropyView),
    "student-size": (student_size.student_size, student_size.StudentSizeView),
    "lineage": (lineage.lineage, lineage.LineageView),
    "cost": (cost.cost, cost.CostView),
}


def test_every_view_is_registered_under_its_url_name_with_its_model() -> None:
    assert {name: (v.compute, v.model) for name, v in VIEWS.items()} == EXPECTED
    assert all(view.description for view in VIEWS.values())


def test_unknown_views_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(NotFound) as err:
        get_view("gaps")
    assert (
        err.value.detail
        == "unknown analytics view 'gaps'; allowed: cost, entropy, gap, lineage, student-size"
    )


def test_a_name_cannot_be_registered_twice() -> None:
    class Other(BaseModel):
        pass

    with pytest.raises(ValueError, match="'gap' is registered twice"):
        register_view("gap", Other)(lambda scope: Other())
    assert VIEWS["gap"].compute is gap.gap


def test_one_route_serves_every_view_and_404s_the_rest(api: TestClient) -> None:
    definition = {
        "name": "g",
        "task": "digits",
        "teachers": [{"name": "ens", "members": 1, "model": {"name": "small-cnn"}}],
        "students": {
            "models": [{"name": "small-cnn"}],
            "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
        },
    }
    grid_id = make_grid(api, definition)[0]["id"]
    for name, (_, model) in EXPECTED.items():
        body = api.get(f"/api/v1/analytics/{name}", params={"grid_id": grid_id}).json()
        assert set(body) == set(model.model_fields), name
    unknown = api.get("/api/v1/analytics/nope", params={"grid_id": grid_id})
    assert unknown.status_code == 404
    assert unknown.json() == {
        "detail": "unknown analytics view 'nope'; allowed: cost, entropy, gap, lineage, student-size"
    }


def test_openapi_lists_each_view_and_its_model(api: TestClient) -> None:
    spec = api.get("/api/v1/openapi.json").json()
    analytics = [path for path in spec["paths"] if path.startswith("/api/v1/analytics")]
    assert analytics == ["/api/v1/analytics/{view}"]
    operation = spec["paths"]["/api/v1/analytics/{view}"]["get"]
    [view_param] = [p for p in operation["parameters"] if p["name"] == "view"]
    assert sorted(view_param["schema"]["enum"]) == sorted(EXPECTED)
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    refs = {choice["$ref"].rsplit("/", 1)[1] for choice in schema["anyOf"]}
    assert refs == {model.__name__ for _, model in EXPECTED.values()}
    assert refs <= set(spec["components"]["schemas"])

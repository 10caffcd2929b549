"""Dashboard tests drive the real Streamlit app (AppTest, in-process) against the session's live API + worker."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.factories import create_experiment, submit
from tests.support import Stack
from xclab.settings import get_settings

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
# No worker listens on this queue: runs submitted to it stay queued and cost no training time.
PARKED_QUEUE = "dashboard-parked"
PARKED_RUNS = 12


@dataclass(frozen=True)
class Seeded:
    trained_experiment: dict[str, Any]
    trained_run: dict[str, Any]  # succeeded, with metrics, curves and a checkpoint
    parked_experiment: dict[str, Any]
    parked_runs: list[dict[str, Any]]  # the first is cancelled, the rest stay queued


@pytest.fixture(scope="session")
def seeded(live_stack: Stack) -> Seeded:
    with live_stack.client() as client:
        trained_experiment = create_experiment(client, "dashboard-trained")
        run = submit(client, trained_experiment["id"])
        parked_experiment = create_experiment(client, "dashboard-parked")
        parked = [
            submit(client, parked_experiment["id"], queue=PARKED_QUEUE, seed=i) for i in range(PARKED_RUNS)
        ]
        parked[0] = client.post(f"/runs/{parked[0]['id']}/cancel").json()
    assert parked[0]["status"] == "cancelled"
    trained = live_stack.wait_for_status(run["id"], {"succeeded", "failed", "cancelled"}, timeout=180)
    assert trained["status"] == "succeeded", f"{trained['error']}\n{live_stack.logs()}"
    return Seeded(trained_experiment, trained, parked_experiment, parked)


@pytest.fixture(scope="session")
def user_token(live_stack: Stack) -> str:
    """A user token, as a visitor logs in with (the dashboard refuses the stack's admin token)."""
    with live_stack.client() as client:
        response = client.post("/tokens", json={"name": "dashboard-tests", "role": "user"})
        assert response.status_code == 201, response.text
        return response.json()["token"]


@pytest.fixture()
def dashboard_env(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """Point the in-process dashboard at the live API; settings are cached, so clear them around the test."""
    monkeypatch.setenv("XCL_API_URL", live_stack.api_url)
    monkeypatch.setenv("XCL_API_TOKEN", live_stack.token)
    get_settings.cache_clear()
    yield live_stack
    get_settings.cache_clear()


OpenPage = Callable[..., AppTest]


@pytest.fixture()
def open_page(dashboard_env: Stack, user_token: str) -> OpenPage:
    """Run app.py logged in with a user token, optionally switch to a page (path relative to app.py) with query
    params, and run it."""

    def _open(page: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=30)
        at.session_state["xcl_token"] = user_token
        at.session_state["xcl_token_name"] = "dashboard-tests"
        at.run()
        assert not at.exception, at.exception
        if page:
            at.switch_page(page)
            at.query_params.update(query)
            at.run()
        return at

    return _open


def click_row(
    at: AppTest, table_key: str, row: int, rows: list[int] | None = None, column: str | None = None
) -> AppTest:
    """Select a row of an st.dataframe(on_select=...) as a browser click would (or, with `column`, click that
    cell; with `rows`, tick those rows' checkboxes): AppTest has no public way, so send the table's selection
    state along with the other widgets' values on the next run."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    [frame] = [d for d in at.dataframe if d.key == table_key]
    states = WidgetStates()
    states.CopyFrom(at._tree.get_widget_states())
    kept = [w for w in states.widgets if w.id != frame.proto.id]
    del states.widgets[:]
    states.widgets.extend(kept)
    state = states.widgets.add()
    state.id = frame.proto.id
    cells = [[row, column]] if column else []
    picked = [] if column else (rows if rows is not None else [row])
    state.string_value = json.dumps({"selection": {"rows": picked, "columns": [], "cells": cells}})
    return at._run(states)

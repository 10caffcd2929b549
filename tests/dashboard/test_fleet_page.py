"""Fleet page: the live stack's worker reports itself and is listed as online."""

from __future__ import annotations

import time

from tests.dashboard.conftest import OpenPage
from tests.support import Stack

FLEET_PAGE = "app_pages/fleet.py"


def _wait_for_a_worker(stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with stack.client() as client:
        while not client.get("/workers").json()["data"]:
            assert time.monotonic() < deadline, f"no worker reported\n{stack.logs()}"
            time.sleep(0.5)


def test_the_fleet_page_lists_the_running_worker(open_page: OpenPage, dashboard_env: Stack) -> None:
    _wait_for_a_worker(dashboard_env)
    at = open_page(FLEET_PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Fleet"
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Workers online"]) >= 1
    table = at.dataframe[0].value
    assert "online" in table["state"].tolist()
    assert "cpu, gpu" in table["queues"].tolist()
    assert table["slots"].min() >= 1

"""Toasts: a run or grid that finishes while a page is open is announced on the page's next refresh."""

from __future__ import annotations

from dashboard.notify import finished_grids, gone
from tests.dashboard.conftest import PARKED_QUEUE, OpenPage
from tests.factories import create_experiment, submit
from tests.support import Stack, digits_spec


def test_a_run_finishing_while_a_page_is_open_shows_a_toast(open_page: OpenPage, live_stack: Stack) -> None:
    with live_stack.client() as client:
        experiment = create_experiment(client, "dashboard-toasts")
        run = submit(client, experiment["id"], digits_spec(seed=7), queue=PARKED_QUEUE)
    with live_stack.client() as client:  # a fake worker starts it
        assert client.post(f"/runs/{run['id']}/claim", json={"worker_host": "fake"}).status_code == 200
    at = open_page()  # the first look only remembers what is running
    assert not at.exception, at.exception
    assert not [t for t in at.toast if f"#{run['id']} " in t.value]

    with live_stack.client() as client:
        assert client.post(f"/runs/{run['id']}/finish", json={"status": "failed"}).status_code == 200
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.toast if f"#{run['id']} " in t.value] == [
        f"Run #{run['id']} erm · small-cnn@0.5 · seed 7 failed"
    ]
    at.run()  # announced once
    assert not [t for t in at.toast if f"#{run['id']} " in t.value]


def test_only_transitions_are_announced() -> None:
    assert gone(None, []) == []  # first look
    assert gone({1, 2, 3}, [{"id": 2}]) == [1, 3]
    grids = [{"id": 1, "done": True}, {"id": 2, "done": True}, {"id": 3, "done": False}]
    assert finished_grids(None, grids) == []
    assert finished_grids({1: True, 2: False, 3: False}, grids) == [grids[1]]

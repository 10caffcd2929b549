"""Live refresh in a real browser: on the run page of a running run (refreshed every 3 s), a chart the user zoomed
stays zoomed across refreshes, and frozen charts keep it while new epochs arrive."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.dashboard.conftest import PARKED_QUEUE
from tests.e2e.browser import chrome, chromium_available, start_dashboard
from tests.e2e.test_dashboard_browser import _settled, _wait
from tests.factories import create_experiment, submit
from tests.support import Stack, digits_spec

pytestmark = pytest.mark.skipif(
    not chromium_available(), reason="needs Debian's chromium and chromium-driver"
)

X_RANGE = "return document.querySelector('.js-plotly-plot')._fullLayout.xaxis.range;"
POINTS = "return document.querySelector('.js-plotly-plot').data[0].x.length;"


def _log(stack: Stack, run_id: int, steps: range) -> None:
    with stack.client() as client:
        points = [{"key": "test_top1", "step": s, "value": 40.0 + 5 * s} for s in steps]
        assert client.post(f"/runs/{run_id}/metrics", json={"metrics": points}).status_code == 200


@pytest.fixture()
def running_run(live_stack: Stack) -> Iterator[dict]:
    """A run claimed by a fake worker that has logged 4 of its 10 epochs."""
    with live_stack.client() as client:
        experiment = create_experiment(client, "browser-live")
        run = submit(client, experiment["id"], digits_spec(epochs=10), queue=PARKED_QUEUE)
    with live_stack.client() as client:
        assert client.post(f"/runs/{run['id']}/claim", json={"worker_host": "fake"}).status_code == 200
    _log(live_stack, run["id"], range(1, 5))
    try:
        yield run
    finally:
        with live_stack.client() as client:
            client.post(f"/runs/{run['id']}/finish", json={"status": "cancelled"})


def test_zoom_survives_live_refresh_while_points_arrive(live_stack: Stack, running_run: dict) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    proc, url = start_dashboard(live_stack)
    driver = chrome()
    try:
        driver.get(f"{url}/run?run={running_run['id']}")
        _wait(driver, lambda: _settled(driver), what="the run page")
        _wait(
            driver, lambda: driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .nsewdrag"), what="a chart"
        )
        _wait(driver, lambda: driver.execute_script(POINTS) == 4, what="4 points")
        full = driver.execute_script(X_RANGE)

        # Drag across the middle of the plot: a box zoom on x, as a user does.
        drag = driver.find_element(By.CSS_SELECTOR, ".js-plotly-plot .nsewdrag")
        width = drag.size["width"]
        ActionChains(driver).move_to_element_with_offset(
            drag, -width // 6, 0
        ).click_and_hold().move_by_offset(width // 3, 0).release().perform()
        zoomed = _wait(
            driver,
            lambda: (r := driver.execute_script(X_RANGE)) != full and r,
            what="the zoom to apply",
        )
        assert full[0] < zoomed[0] < zoomed[1] < full[1]

        time.sleep(7)  # two refreshes without new points: the chart is left as it is
        assert driver.execute_script(X_RANGE) == pytest.approx(zoomed)

        # Frozen charts keep the zoom while new epochs arrive; the progress above them stays live.
        toggle = driver.find_element(By.XPATH, "//label[.//p[text()='Freeze charts']]")
        toggle.click()
        time.sleep(4)
        zoomed = driver.execute_script(X_RANGE)  # clicking may rerun once; what the user sees from now on
        _log(live_stack, running_run["id"], range(5, 7))
        _wait(
            driver,
            lambda: "epoch 6/10" in driver.find_element(By.CSS_SELECTOR, '[data-testid="stProgress"]').text,
            timeout=30,
            what="the progress to reach epoch 6",
        )
        time.sleep(4)
        assert driver.execute_script(X_RANGE) == pytest.approx(zoomed)
        assert driver.execute_script(POINTS) == 4

        toggle.click()  # unfrozen: the curves catch up
        _wait(driver, lambda: driver.execute_script(POINTS) == 6, timeout=30, what="the new points")
    finally:
        driver.quit()
        proc.stop()

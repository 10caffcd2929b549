"""The run page's console in a real browser: while a real worker trains a run, its epoch lines appear on the open
page one refresh after another, without reloading it, and the last one arrives when the run has finished."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.browser import chrome, chromium_available, start_dashboard
from tests.e2e.test_dashboard_browser import _settled, _wait
from tests.factories import create_experiment, submit
from tests.support import Stack, digits_spec

pytestmark = pytest.mark.skipif(
    not chromium_available(), reason="needs Debian's chromium and chromium-driver"
)

EPOCHS = 150  # tens of seconds of training on two cores: time for several console refreshes
CONSOLE_TEXT = "return Array.from(document.querySelectorAll('[data-testid=\"stCode\"]')).map(e => e.innerText).join('\\n');"


def _last_epoch(driver, run_id: int) -> int:  # type: ignore[no-untyped-def]
    text = driver.execute_script(CONSOLE_TEXT) or ""
    return max((int(m) for m in re.findall(rf"run {run_id} epoch (\d+)/{EPOCHS}", text)), default=0)


def test_console_lines_appear_live_while_a_run_trains(live_stack: Stack, artifacts_dir: Path) -> None:
    proc, url = start_dashboard(live_stack)
    driver = chrome()
    try:
        with live_stack.client() as client:
            experiment = create_experiment(client, "browser-console")["id"]
            run = submit(client, experiment, digits_spec(epochs=EPOCHS))
            run_id = run["id"]
            live_stack.wait_for_status(run_id, {"running", "succeeded", "failed"}, timeout=120)
            driver.get(f"{url}/run?run={run_id}")
            _wait(driver, lambda: _settled(driver), what="the run page")
            driver.execute_script("window.__sameDocument = true;")  # gone if the page were reloaded

            first = _wait(driver, lambda: _last_epoch(driver, run_id), timeout=90, what="a first epoch line")
            assert client.get(f"/runs/{run_id}").json()["status"] == "running", (
                "the run ended before it was seen"
            )
            later = _wait(
                driver,
                lambda: (epoch := _last_epoch(driver, run_id)) > first and epoch,
                timeout=60,
                what="newer epoch lines",
            )
            assert client.get(f"/runs/{run_id}").json()["status"] == "running", (
                f"{first} -> {later}: not live"
            )
            driver.execute_script("document.querySelector('[data-testid=\"stCode\"]').scrollIntoView();")
            driver.save_screenshot(str(artifacts_dir / "run-console-live.png"))

            final = live_stack.wait_for_status(run_id, {"succeeded", "failed"}, timeout=300)
            assert final["status"] == "succeeded", final["error"]
            _wait(
                driver, lambda: _last_epoch(driver, run_id) == EPOCHS, timeout=60, what="the last epoch line"
            )
            assert driver.execute_script("return window.__sameDocument === true;")
            assert first < later < EPOCHS
    finally:
        driver.quit()
        proc.stop()

"""Every dashboard page in a real headless Chromium against a running dashboard and API, with screenshots."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import chrome, chromium_available, start_dashboard
from tests.support import Stack

pytestmark = pytest.mark.skipif(
    not chromium_available(), reason="needs Debian's chromium and chromium-driver"
)

GRID = {
    "name": "browser-grid",
    "task": "digits",
    "epochs": 2,
    "overrides": {"train_subset": 300},
    "teachers": [{"name": "ens", "members": 2, "model": {"name": "small-cnn", "width": 0.5}}],
    "students": {
        "models": [{"name": "small-cnn", "width": 0.25}],
        "seeds": [0, 1],
        "methods": [
            {"name": "erm"},
            {"name": "kd", "teachers": "ens"},
            {"name": "xcl-mix", "teachers": "ens"},
        ],
    },
}


@pytest.fixture(scope="module")
def trained_grid(live_stack: Stack) -> dict:
    with live_stack.client() as client:
        grid = client.post("/grids", json={"definition": GRID}).json()
        deadline = time.monotonic() + 300
        while not (grid := client.get(f"/grids/{grid['id']}").json())["done"]:
            assert time.monotonic() < deadline, grid["counts"]
            time.sleep(1)
    assert grid["counts"] == {"succeeded": len(grid["cells"])}, grid["counts"]
    return grid


@pytest.fixture(scope="module")
def dashboard_url(live_stack: Stack) -> Iterator[str]:
    proc, url = start_dashboard(live_stack)
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, predicate, timeout: float = 60.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} on {driver.current_url}")


def _settled(driver) -> bool:  # type: ignore[no-untyped-def]
    """Streamlit has finished running the script (no running indicator) and drawn the main block."""
    from selenium.webdriver.common.by import By

    main = driver.find_elements(
        By.CSS_SELECTOR, '[data-testid="stMainBlockContainer"], [data-testid="stMain"]'
    )
    running = driver.find_elements(
        By.CSS_SELECTOR, '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'
    )
    return bool(main) and not running


def _page_links(driver, base: str) -> list[str]:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    _wait(
        driver,
        lambda: driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"]'),
        what="navigation",
    )
    links = [
        a.get_attribute("href")
        for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"]')
    ]
    return [link for link in links if link and link.startswith(base)]


# Real marks, not an empty frame: plotly's bars or lines in its SVG, or a Vega-Lite chart's marks (SVG paths) or
# its canvas (Vega draws on a canvas past 2,000 data points).
PLOTLY_MARKS = ", ".join(
    f".js-plotly-plot .main-svg {layer} path" for layer in (".plot", ".bars", ".scatterlayer")
)
VEGA_MARKS = ".vega-embed svg .role-mark path, .vega-embed canvas"


def _check_page(driver, url: str, shot: Path, chart: str | None) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver.get(url)
    _wait(driver, lambda: _settled(driver), what="the page to render")
    if chart:
        _wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, chart), what=f"a chart ({chart})")
    time.sleep(1.0)  # let late elements finish painting before the screenshot
    shot.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shot))
    errors = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not errors, f"{url} shows an exception: {errors[0].text[:500]}"


def test_every_page_renders_in_chromium(
    browser, dashboard_url: str, trained_grid: dict, artifacts_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    browser.get(dashboard_url)
    links = _page_links(browser, dashboard_url)
    assert len(links) >= 4, links
    shots = artifacts_dir / "screenshots"
    for link in links:
        path = link.removeprefix(dashboard_url).strip("/")
        name = path or "runs-default"
        _check_page(browser, link, shots / f"{name}.png", chart=None)
    # The pages that draw the paper's charts, opened on the trained grid and one of its runs.
    student = next(c for c in trained_grid["cells"] if c["key"].startswith("student/kd"))
    _check_page(
        browser, f"{dashboard_url}/run?run={student['run_id']}", shots / "run-curves.png", chart=PLOTLY_MARKS
    )
    _check_page(
        browser,
        f"{dashboard_url}/grids?grid={trained_grid['id']}",
        shots / "grid-report.png",
        chart=PLOTLY_MARKS,
    )
    # The cost page draws Vega-Lite (st.altair_chart), not plotly.
    _check_page(
        browser, f"{dashboard_url}/cost?grid={trained_grid['id']}", shots / "cost.png", chart=VEGA_MARKS
    )
    for shot in shots.glob("*.png"):
        assert shot.stat().st_size > 5_000, f"{shot} looks blank"

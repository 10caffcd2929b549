"""In a real headless Chromium: the runs table's checkboxes and search, Compare's grouping, wall-time axis and
parallel coordinates, and the grid progress bar. Runs and grid are parked (lifecycles faked over the API): nothing
trains."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dashboard.conftest import PARKED_QUEUE
from tests.e2e.browser import chrome, chromium_available, start_dashboard
from tests.e2e.test_dashboard_browser import _settled, _wait
from tests.factories import claim, create_experiment, submit
from tests.support import Stack, digits_spec

pytestmark = pytest.mark.skipif(
    not chromium_available(), reason="needs Debian's chromium and chromium-driver"
)

CURVES = {"erm": [50.0, 60.0, 70.0], "ls": [40.0, 55.0, 80.0]}
# The figure whose layout title is arguments[0], as plotly holds it in the page (Streamlit's theme bolds titles).
FIGURE = """
const text = t => (t && t.text ? t.text.replace(/<[^>]*>/g, '') : null);
const plot = [...document.querySelectorAll('.js-plotly-plot')]
  .find(p => p._fullLayout && text(p._fullLayout.title) === arguments[0]);
return plot ? {legend: text(plot._fullLayout.legend.title), xaxis: text(plot._fullLayout.xaxis.title),
  traces: plot.data.map(t => ({name: t.name, fill: t.fill || null, x: t.x}))} : null;
"""


@pytest.fixture(scope="module")
def four_runs(live_stack: Stack) -> dict[str, Any]:
    """Two methods x two seeds, finished, a minute of wall time per epoch."""
    with live_stack.client() as client:
        experiment = create_experiment(client, "browser-compare")
        ids = []
        for method, curve in CURVES.items():
            for seed, offset in ((0, -5.0), (1, 5.0)):
                run = submit(
                    client,
                    experiment["id"],
                    digits_spec(seed=seed, method={"name": method}),
                    queue=PARKED_QUEUE,
                )
                claim(client, run["id"])
                points = [
                    {"key": "test_top1", "step": s, "value": v + offset, "wall_time": 1.7e9 + 60 * s}
                    for s, v in enumerate(curve, start=1)
                ]
                assert client.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).status_code == 200
                assert (
                    client.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}).status_code == 200
                )
                ids.append(run["id"])
    return {"experiment": experiment["id"], "ids": ids}


@pytest.fixture(scope="module")
def dashboard(live_stack: Stack) -> Iterator[tuple[Any, str]]:
    proc, url = start_dashboard(live_stack)
    driver = chrome()
    try:
        yield driver, url
    finally:
        driver.quit()
        proc.stop()


def _open(driver, url: str) -> None:  # type: ignore[no-untyped-def]
    driver.get(url)
    _wait(driver, lambda: _settled(driver), what="the page to render")


def _click_label(driver, text: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//label[.//p[text()='{text}']]").click()


def _pick(driver, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Type into a multiselect (found by its label) and take the first match."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(
        By.XPATH, f"//div[@data-testid='stMultiSelect'][.//label[.//p[text()='{label}']]]//input"
    )
    box.click()
    box.send_keys(option)
    time.sleep(0.5)
    box.send_keys(Keys.ENTER)
    box.send_keys(Keys.ESCAPE)


def test_ticked_rows_open_compare_grouped_with_a_band_on_a_wall_time_axis(
    dashboard: tuple[Any, str], four_runs: dict[str, Any]
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, url = dashboard
    ids = four_runs["ids"]
    _open(driver, f"{url}/?experiment={four_runs['experiment']}&sort=id")
    grid = _wait(
        driver,
        lambda: driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]'),
        what="the runs table",
    )[0]
    # Tick the checkboxes of the first and the third rows (the row-marker column; 35 px rows under a header).
    top = -grid.size["height"] // 2
    left = -grid.size["width"] // 2
    for row in (0, 2):
        ActionChains(driver).move_to_element_with_offset(
            grid, left + 18, top + 35 + 35 * row + 17
        ).click().perform()
        time.sleep(1.5)
    selected = _wait(
        driver,
        lambda: "selected=" in driver.current_url and driver.current_url,
        what="the selection in the URL",
    )
    assert selected.split("selected=")[1].split("&")[0].replace("%2C", ",") == f"{ids[0]},{ids[2]}"

    driver.find_element(By.XPATH, "//button[.//p[text()='Compare']]").click()
    _wait(driver, lambda: "/compare" in driver.current_url and _settled(driver), what="the compare page")
    _wait(
        driver,
        lambda: [
            box
            for box in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stTextInput"] input')
            if box.get_attribute("value") == f"{ids[0]},{ids[2]}"
        ],
        what="the picked ids in the Run ids box",
    )
    _wait(driver, lambda: driver.execute_script(FIGURE, "test_top1"), what="their test_top1 chart")

    # All four runs, grouped by method: a mean line and a band per group, the band named in the legend.
    _open(driver, f"{url}/compare?ids={','.join(map(str, ids))}")
    _wait(driver, lambda: driver.execute_script(FIGURE, "test_top1"), what="the test_top1 chart")
    _pick(driver, "Group by", "method.name")
    figure = _wait(
        driver,
        lambda: (f := driver.execute_script(FIGURE, "test_top1")) and f["legend"] and f,
        what="the grouped chart",
    )
    assert figure["legend"] == "mean ± std over each group's runs"
    lines = sorted(t["name"] for t in figure["traces"] if t["fill"] != "toself")
    assert lines == ["method.name=erm (n=2)", "method.name=ls (n=2)"]
    assert sum(t["fill"] == "toself" for t in figure["traces"]) == 2
    assert driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .fills path")

    _click_label(driver, "wall time (minutes since start)")
    figure = _wait(
        driver,
        lambda: (
            (f := driver.execute_script(FIGURE, "test_top1"))
            and f["xaxis"] == "wall time (minutes since start)"
            and f
        ),
        what="the wall-time axis",
    )
    assert next(t for t in figure["traces"] if t["fill"] != "toself")["x"] == [0, 1, 2]

    # Parallel coordinates (opt-in): one axis per differing field and the metric, drawn by plotly.
    _click_label(driver, "Parallel coordinates")
    axes = _wait(
        driver,
        lambda: [
            e.text for e in driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .parcoords .axis-title")
        ],
        what="the parallel coordinates",
    )
    assert "method.name" in axes and "test_top1" in axes and "seed" in axes


def test_grid_progress_bar_splits_cells_by_status(dashboard: tuple[Any, str], live_stack: Stack) -> None:
    from selenium.webdriver.common.by import By

    driver, url = dashboard
    definition = {
        "name": "browser-progress",
        "task": "digits",
        "epochs": 2,
        "queue": PARKED_QUEUE,
        "teachers": [{"name": "ens", "members": 2, "model": {"name": "small-cnn", "width": 0.5}}],
        "students": {
            "models": [{"name": "small-cnn", "width": 0.25}],
            "seeds": [0],
            "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
        },
    }
    with live_stack.client() as client:
        grid = client.post("/grids", json={"definition": definition}).json()
        teacher = next(c for c in grid["cells"] if c["role"] == "teacher")
        client.post(f"/runs/{teacher['run_id']}/cancel")  # its kd student fails, naming it
        counts = client.get(f"/grids/{grid['id']}").json()["counts"]
    _open(driver, f"{url}/grids?grid={grid['id']}")
    segments = _wait(
        driver,
        lambda: driver.find_elements(By.CSS_SELECTOR, ".xcl-grid-progress .xcl-seg"),
        what="the progress bar",
    )
    titles = [s.get_attribute("title") for s in segments]
    order = ["succeeded", "failed", "cancelled", "running", "queued", "waiting"]
    assert titles == [f"{s}: {counts[s]}" for s in order if counts.get(s)]
    widths = [s.size["width"] for s in segments]
    bar = driver.find_element(By.CSS_SELECTOR, ".xcl-grid-progress").size["width"]
    assert abs(sum(widths) - bar) <= len(widths) + 1 and all(w > 0 for w in widths)


def test_text_search_narrows_the_runs_table_and_the_url(
    dashboard: tuple[Any, str], four_runs: dict[str, Any]
) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, url = dashboard
    _open(driver, f"{url}/?experiment={four_runs['experiment']}")
    _wait(driver, lambda: "of 4" in driver.page_source, what="the four runs")
    search = "//div[@data-testid='stTextInput'][.//p[text()='Search']]//input"

    def typed() -> bool:
        # The box may not be drawn yet, or be redrawn under us by the live refresh: look it up again until the
        # keys land in the box on the page.
        try:
            box = driver.find_element(By.XPATH, search)
            box.send_keys("LS", Keys.ENTER)
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return True

    _wait(driver, typed, what="the search box")
    _wait(driver, lambda: "runs 1–2 of 2" in driver.page_source, what="the two ls runs")
    _wait(driver, lambda: "q=LS" in driver.current_url, what="the search in the URL")

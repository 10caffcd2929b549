"""Benchmark: load time of the main dashboard pages with many runs in the database, idle or next to training.

Seeds runs (with latest metrics) into a fresh database like runs_page_10k.py, starts `xclab serve` and
`xclab dashboard`, submits a parked grid (for the grids page), and times in headless Chromium each page from navigation until its last table or chart is on
screen and Streamlit has stopped running. With --train, a local worker started the way `xclab up` starts it
(niced, with a thread budget) trains a long digits run meanwhile. Prints the median per page and its ratio to
the target (2 s idle, 4 s next to training).
Run: `.venv/bin/python benchmarks/dashboard_pages.py [--runs 10000] [--train] [--database-url URL]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.runs_page_10k import seed  # noqa: E402
from cli.local_worker import lower_priority, worker_env  # noqa: E402
from tests.e2e.browser import chrome, start_dashboard  # noqa: E402
from tests.support import digits_spec, start_stack  # noqa: E402

TABLE = '[data-testid="stDataFrame"] canvas, [data-testid="stDataFrameGlideDataEditor"]'
# A plotly chart's SVG (plotly draws its traces in the same call), or a Vega-Lite chart's (st.altair_chart)
# marks: paths in its SVG, or its canvas (Vega draws on a canvas past 2,000 data points).
CHART = ".js-plotly-plot .main-svg, .vega-embed svg .role-mark path, .vega-embed canvas"
# (page, path, what shows that it has loaded)
PAGES = [
    ("runs", "/", TABLE),
    ("run", "/run?run=1", CHART),
    ("compare", "/compare?ids=1,2,3,4,5,6", CHART),
    ("launch", "/launch", '[data-testid="stButton"] button'),
    ("grids", "/grids", ".xcl-grid-progress .xcl-seg"),
    ("cost", "/cost?experiment=1", CHART),
]


def _settled(driver) -> bool:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return not driver.find_elements(
        By.CSS_SELECTOR, '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'
    )


def page_seconds(driver, url: str, ready: str, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    times = []
    for _ in range(repeats + 1):
        driver.get("about:blank")
        t0 = time.perf_counter()
        driver.get(url)
        deadline = time.monotonic() + 120
        while not (driver.find_elements(By.CSS_SELECTOR, ready) and _settled(driver)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} never showed {ready}")
            time.sleep(0.02)
        times.append(time.perf_counter() - t0)
    return times[1:]  # the first load also warms Streamlit's caches and the browser


def seed_grid(stack) -> None:  # type: ignore[no-untyped-def]
    """A 12-cell grid parked on a queue no worker serves (one teacher cancelled, so its students fail): the grids
    page then draws its progress bar, cells and report."""
    definition = {
        "name": "bench-grid",
        "task": "digits",
        "epochs": 2,
        "queue": "bench-parked",
        "teachers": [{"name": "ens", "members": 2, "model": {"name": "small-cnn", "width": 0.5}}],
        "students": {
            "models": [{"name": "small-cnn", "width": 0.25}],
            "seeds": [0, 1],
            "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}, {"name": "ls"}],
        },
    }
    with stack.client() as client:
        grid = client.post("/grids", json={"definition": definition}).json()
        teacher = next(c for c in grid["cells"] if c["role"] == "teacher")
        client.post(f"/runs/{teacher['run_id']}/cancel")


def start_training(stack, home: Path) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    """A niced worker with a thread budget (as `xclab up` starts it) and a digits run that outlasts the bench."""
    env = worker_env(dict(stack.env), os.cpu_count() or 1, 1)
    log = (home / "bench-worker.log").open("ab")
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker", "--queues", "cpu"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lower_priority if os.name == "posix" else None,
    )
    with stack.client() as client:
        experiment = client.post("/experiments", json={"name": "bench-training"}).json()
        run = client.post(
            "/runs", json={"experiment_id": experiment["id"], "spec": digits_spec(epochs=500)}
        ).json()
        deadline = time.monotonic() + 120
        while client.get(f"/runs/{run['id']}").json()["status"] != "running":
            if time.monotonic() > deadline:
                raise RuntimeError("the training run never started")
            time.sleep(0.5)
    return worker


def stop_training(stack, worker: subprocess.Popen[bytes]) -> None:  # type: ignore[no-untyped-def]
    """Cancel the run (Celery's warm shutdown would wait for it), then stop the worker, killing it if it lingers."""
    with stack.client() as client:
        for run in client.get("/runs", params={"status": "running", "limit": 1000}).json()["data"]:
            client.post(f"/runs/{run['id']}/cancel")
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train", action="store_true", help="measure next to a training run")
    parser.add_argument(
        "--pages", default=",".join(p[0] for p in PAGES), help="comma-separated subset of the pages to time"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="xclab-bench-"))
    url = args.database_url or f"sqlite:///{home / 'bench.db'}"
    from backend.db import upgrade

    upgrade(url)
    t0 = time.perf_counter()
    seed(url, args.runs)
    print(f"seeded {args.runs} runs in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})")
    target = 4.0 if args.train else 2.0
    stack = start_stack(home, database_url=url)
    seed_grid(stack)
    worker = start_training(stack, home) if args.train else None
    try:
        proc, dash = start_dashboard(stack)
        driver = chrome()
        try:
            print(
                f"{'next to a training run' if args.train else 'idle'}, {os.cpu_count()} cores, target {target:g} s"
            )
            picked = args.pages.split(",")
            for name, path, ready in (p for p in PAGES if p[0] in picked):
                times = page_seconds(driver, f"{dash}{path}", ready, args.repeats)
                median = statistics.median(times)
                print(
                    f"  {name:<8} median {median:5.2f} s  max {max(times):5.2f} s  "
                    f"ratio to target {median / target:.2f}"
                )
        finally:
            driver.quit()
            proc.stop()
    finally:
        try:
            if worker is not None:
                stop_training(stack, worker)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()

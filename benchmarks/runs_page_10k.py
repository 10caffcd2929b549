"""Benchmark: the runs page and the runs API with 10,000 runs in the database.

Seeds 10,000 runs (with latest metrics) into a fresh database, starts `xclab serve` and `xclab dashboard`,
then measures (1) GET /api/v1/runs latency for the first page, a filtered page, a deep page, and (2) the time a
headless Chromium takes from navigation until the runs table is on screen. Prints each figure and its ratio to
the 2 s target for the page. Run: `.venv/bin/python benchmarks/runs_page_10k.py [--database-url URL]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.browser import chrome, start_dashboard  # noqa: E402
from tests.support import digits_spec, start_stack  # noqa: E402

TARGET_PAGE_SECONDS = 2.0


def seed(database_url: str, n_runs: int) -> None:
    """Bulk-insert runs and their latest metrics straight through SQLAlchemy (the API would take minutes)."""
    from sqlalchemy import insert

    from backend.db import make_engine
    from backend.models import Experiment, LatestMetric, Run, utcnow
    from xclab.spec import RunSpec, resolve_hparams

    rng = random.Random(0)
    engine = make_engine(database_url)
    methods = ["erm", "ls", "mixup", "cutmix", "kd", "xcl-mix"]
    statuses = ["succeeded"] * 8 + ["failed", "running", "queued"]
    with engine.begin() as conn:
        conn.execute(
            insert(Experiment),
            [{"name": f"bench-{i}", "description": "", "created_at": utcnow()} for i in range(10)],
        )
        runs, metrics = [], []
        for i in range(n_runs):
            method = methods[i % len(methods)]
            spec = RunSpec.model_validate(digits_spec(method={"name": method}, seed=i % 5))
            runs.append(
                {
                    "id": i + 1,
                    "experiment_id": i % 10 + 1,
                    "spec": spec.model_dump(mode="json"),
                    "hparams": resolve_hparams(spec),
                    "task": "digits",
                    "method": method,
                    "model": "small-cnn",
                    "status": rng.choice(statuses),
                    "attempt": 1,
                    "queue": "cpu",
                    "cancel_requested": False,
                    "created_at": utcnow(),
                }
            )
            for key in ("test_top1", "train_loss", "test_loss", "h_hat"):
                metrics.append(
                    {
                        "run_id": i + 1,
                        "key": key,
                        "step": 10,
                        "value": rng.random() * 100,
                        "wall_time": time.time(),
                    }
                )
        for start in range(0, len(runs), 2000):
            conn.execute(insert(Run), runs[start : start + 2000])
        for start in range(0, len(metrics), 8000):
            conn.execute(insert(LatestMetric), metrics[start : start + 8000])
    engine.dispose()


def api_latency(api_url: str, params: dict, repeats: int = 20) -> float:
    with httpx.Client(base_url=f"{api_url}/api/v1", timeout=30) as client:
        client.get("/runs", params=params)  # warm up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = client.get("/runs", params=params)
            times.append(time.perf_counter() - t0)
            response.raise_for_status()
    return statistics.median(times)


def page_seconds(url: str, repeats: int = 5) -> list[float]:
    from selenium.webdriver.common.by import By

    driver = chrome()
    times = []
    try:
        for _ in range(repeats + 1):
            driver.get("about:blank")
            t0 = time.perf_counter()
            driver.get(url)
            deadline = time.monotonic() + 60
            while not driver.find_elements(
                By.CSS_SELECTOR,
                '[data-testid="stDataFrame"] canvas, [data-testid="stDataFrameGlideDataEditor"]',
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("the runs table never appeared")
                time.sleep(0.02)
            times.append(time.perf_counter() - t0)
    finally:
        driver.quit()
    return times[1:]  # the first load also warms Streamlit's caches and the browser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="xclab-bench-"))
    url = args.database_url or f"sqlite:///{home / 'bench.db'}"
    from backend.db import upgrade

    upgrade(url)
    t0 = time.perf_counter()
    seed(url, args.runs)
    print(f"seeded {args.runs} runs in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})")
    stack = start_stack(home, database_url=url)
    try:
        for label, params in [
            ("first page (100)", {"limit": 100}),
            ("filtered: status+method", {"limit": 100, "status": "succeeded", "method": "kd"}),
            ("experiment, sorted by created_at", {"limit": 100, "experiment_id": 3, "sort": "-created_at"}),
        ]:
            print(f"API GET /runs {label}: {api_latency(stack.api_url, params) * 1000:.1f} ms (median of 20)")
        proc, dash = start_dashboard(stack)
        try:
            times = page_seconds(dash)
        finally:
            proc.stop()
        median = statistics.median(times)
        print(f"runs page in Chromium: median {median:.2f} s, max {max(times):.2f} s over {len(times)} loads")
        print(
            f"ratio to the {TARGET_PAGE_SECONDS:.0f} s target: {median / TARGET_PAGE_SECONDS:.2f} (below 1 meets it)"
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

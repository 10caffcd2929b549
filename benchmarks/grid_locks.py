"""Benchmark: how long a large grid's creation and cancellation hold up other writes.

Starts `xclab serve` on a fresh database, then, while a second client posts a small metric batch to an unrelated
run every 50 ms, creates a `--cells`-cell grid (a 4-member teacher ensemble and KD students of it, on a queue no
worker consumes) and cancels one of its teachers (which fails every student, naming it). Prints each phase's time
and the metric writes' latency during it (median, p99, max). Run:
`.venv/bin/python benchmarks/grid_locks.py [--database-url URL] [--cells 2000]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import digits_spec, start_stack  # noqa: E402


def _writer(stack, run_id: int, stop: threading.Event, samples: list[tuple[float, float]]) -> None:  # type: ignore[no-untyped-def]
    step = 0
    with stack.client() as client:
        while not stop.is_set():
            step += 1
            batch = {"metrics": [{"key": "probe", "step": step, "value": 1.0}]}
            t0 = time.perf_counter()
            response = client.post(f"/runs/{run_id}/metrics", json=batch)
            samples.append((t0, time.perf_counter() - t0))
            assert response.status_code == 200, response.text
            time.sleep(0.05)


def _latencies(samples: list[tuple[float, float]], start: float, end: float) -> str:
    during = sorted(d for t, d in samples if start <= t <= end)
    if not during:
        return "no writes during it"
    p99 = during[min(len(during) - 1, int(0.99 * len(during)))]
    return (
        f"{len(during)} metric writes meanwhile: median {statistics.median(during) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {during[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--cells", type=int, default=2000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="xclab-gridlocks-"))
    stack = start_stack(home, database_url=args.database_url)
    grid = {
        "name": "big",
        "task": "digits",
        "queue": "parked",
        "teachers": [{"name": "ens", "members": 4, "model": {"name": "small-cnn"}}],
        "students": {
            "models": [{"name": "small-cnn", "width": 0.5}],
            "seeds": list(range(args.cells - 4)),
            "methods": [{"name": "kd", "teachers": "ens"}],
        },
    }
    try:
        with stack.client() as client:
            client.timeout = 600
            exp = client.post("/experiments", json={"name": "other"}).json()["id"]
            probe = client.post(
                "/runs", json={"experiment_id": exp, "spec": digits_spec(), "queue": "parked"}
            ).json()["id"]
            stop, samples = threading.Event(), []
            writer = threading.Thread(target=_writer, args=(stack, probe, stop, samples), daemon=True)
            writer.start()
            time.sleep(1)
            t0 = time.perf_counter()
            created = client.post("/grids", json={"definition": grid})
            t1 = time.perf_counter()
            assert created.status_code == 201, created.text[:500]
            cells = created.json()["cells"]
            teacher = next(c["run_id"] for c in cells if c["role"] == "teacher")
            time.sleep(1)
            t2 = time.perf_counter()
            cancelled = client.post(f"/runs/{teacher}/cancel")
            t3 = time.perf_counter()
            assert cancelled.status_code == 200, cancelled.text[:500]
            time.sleep(1)
            stop.set()
            writer.join()
            after = client.get(f"/grids/{created.json()['id']}", params={"cells": "false"}).json()
        print(f"grid of {len(cells)} cells on {args.database_url or 'SQLite'}")
        print(f"create: {t1 - t0:.2f} s; {_latencies(samples, t0, t1)}")
        print(f"cancel a teacher: {t3 - t2:.2f} s; {_latencies(samples, t2, t3)}")
        print(f"grid after the cancel: {after['counts']}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

"""Benchmark: metric ingestion and history reads through the REST API.

Starts `xclab serve` on a fresh database, creates one run, posts `--points` metric points in batches of
`--batch` (one key, consecutive steps, as a training loop logs them), then reads the full history and a
1,000-point downsampled history. Prints points/s and read latencies. Run:
`.venv/bin/python benchmarks/metric_ingestion.py [--database-url URL] [--points 1000000]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import digits_spec, start_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="xclab-ingest-"))
    stack = start_stack(home, database_url=args.database_url)
    try:
        with stack.client() as client:
            exp = client.post("/experiments", json={"name": "ingest"}).json()["id"]
            run = client.post(
                "/runs", json={"experiment_id": exp, "spec": digits_spec(), "queue": "parked"}
            ).json()
            t0 = time.perf_counter()
            for start in range(0, args.points, args.batch):
                batch = [
                    {"key": "loss", "step": s, "value": 1.0 / (s + 1)}
                    for s in range(start, start + args.batch)
                ]
                client.post(f"/runs/{run['id']}/metrics", json={"metrics": batch}).raise_for_status()
            seconds = time.perf_counter() - t0
            print(
                f"ingested {args.points:,} points in {seconds:.1f} s: {args.points / seconds:,.0f} points/s "
                f"(batches of {args.batch}, {stack.env.get('XCL_DATABASE_URL', 'sqlite').split(':')[0]})"
            )
            for label, params in [
                ("downsampled to 1,000 points", {"max_points": 1000}),
                ("full history", {}),
            ]:
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    points = client.get(f"/runs/{run['id']}/metrics/loss", params=params).json()["points"]
                    times.append(time.perf_counter() - t0)
                print(
                    f"history read, {label}: {statistics.median(times) * 1000:.0f} ms median ({len(points):,} points)"
                )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()

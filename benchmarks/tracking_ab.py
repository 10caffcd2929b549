"""Two versions of XCL Lab's tracking server side by side: run creation, writes of 15, 1 and 1,000 points, search.

On a machine whose speed drifts (a shared virtual machine's did by 40 % within minutes), figures measured one
version after the other compare the machine as much as the code. This alternates the two: each round starts one
checkout's server and then the other's (the baseline first in odd rounds), each on a fresh database, and replays the tracking
benchmark's workload through the same client (`benchmarks/tracking`): `--runs` tracking runs created with their
10 params, one 15-point request per run, `--points` one-point requests to one run, `--searches` top-100 searches
(the tracking benchmark's: a param filter, ordered by a metric's latest value, every answer checked), and
`--batches` 1,000-point requests to another run. It prints each round's figures (medians; the 1,000-point write's
mean, which counts the rare long request that a median hides) and, per figure, the median over rounds of the
baseline / this checkout ratio (> 1: this one is faster).

    git worktree add /tmp/baseline <rev>
    .venv/bin/python benchmarks/tracking_ab.py --baseline /tmp/baseline [--backend postgresql] [--rounds 3]

Both servers run on this interpreter, each with its checkout first on the import path; the baseline's
dependencies must be this environment's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.tracking import servers  # noqa: E402
from benchmarks.tracking.adapters import CheckFailed, XclLab  # noqa: E402
from benchmarks.tracking.workload import (  # noqa: E402
    SEARCH_PARAM,
    SORT_METRIC,
    TOP_K,
    Workload,
    batches,
    series_points,
)

FIGURES = ("run creation", "15-point write", "one-point write", "top-100 search", "1,000-point write (mean)")


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


@contextmanager
def _server(repo: Path, backend: str, postgres_url: str) -> Iterator[servers.Server]:
    """The checkout's server on a fresh database: a new SQLite file, or a PostgreSQL database dropped afterwards."""
    pg = servers.Postgres(postgres_url) if backend == "postgresql" else None
    with pg.database("xclab_ab") if pg else nullcontext(None) as database:
        url = pg.url(database, "postgresql+psycopg") if pg and database else None
        work = Path(tempfile.mkdtemp(prefix="xclab-ab-"))
        server = servers.start_xclab(sys.executable, work, backend, url, database, repo)
        try:
            yield server
        finally:
            server.stop()


def measure(
    repo: Path, backend: str, postgres_url: str, runs: int, points: int, searches: int, batch_count: int
) -> dict[str, float]:
    """Milliseconds per request of each figure, on a fresh server and database."""
    workload = Workload(0)
    with _server(repo, backend, postgres_url) as server:
        tracker = XclLab(server)
        try:
            experiment = tracker.create_experiment("ab")
            created, ids = [], []
            for index in range(runs):
                params = workload.run(index).params
                start = time.perf_counter()
                ids.append(tracker.create_run(experiment, params))
                created.append((time.perf_counter() - start) * 1000)
            fifteen = [
                _timed(lambda i=i, run_id=run_id: tracker.log_points(run_id, workload.run(i).points))
                for i, run_id in enumerate(ids)
            ]
            target = ids[0]
            singles = [
                _timed(lambda p=p: tracker.log_point(target, p)) for p in series_points(points)[:points]
            ]
            expected = [ids[i] for i in workload.expected_top(runs, TOP_K)]

            def search() -> None:
                if tracker.search_top(experiment, SEARCH_PARAM, SORT_METRIC, TOP_K) != expected:
                    raise CheckFailed(f"the top-{TOP_K} search did not return the expected runs")

            search()  # warm-up, checked too
            found = [_timed(search) for _ in range(searches)]
            bulk_run = tracker.create_run(experiment, {"purpose": "batched"})
            bulk = [
                _timed(lambda b=b: tracker.log_points(bulk_run, b))
                for b in list(batches(series_points(batch_count * 200), 1_000))[:batch_count]
            ]
        finally:
            tracker.close()
    medians = [statistics.median(times) for times in (created, fifteen, singles, found)]
    return dict(zip(FIGURES, [*medians, statistics.mean(bulk)], strict=True))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", type=Path, required=True, help="the other version's checkout")
    p.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    p.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--runs", type=int, default=600, help="runs created per server (default 600)")
    p.add_argument("--points", type=int, default=500, help="one-point requests per server (default 500)")
    p.add_argument("--searches", type=int, default=200, help="timed searches per server (default 200)")
    p.add_argument("--batches", type=int, default=50, help="1,000-point requests per server (default 50)")
    args = p.parse_args()
    this = Path(__file__).resolve().parents[1]
    ratios: dict[str, list[float]] = {figure: [] for figure in FIGURES}
    print(f"{args.backend}; baseline {args.baseline}, this checkout {this}; ms per request, medians")
    for round_ in range(1, args.rounds + 1):
        sizes = (args.runs, args.points, args.searches, args.batches)
        # Who goes first alternates: a machine that drifts within a round favours neither.
        order = (args.baseline, this) if round_ % 2 else (this, args.baseline)
        figures = {repo: measure(repo, args.backend, args.postgres_url, *sizes) for repo in order}
        before, after = figures[args.baseline], figures[this]
        cells = []
        for figure in FIGURES:
            ratios[figure].append(before[figure] / after[figure])
            cells.append(f"{figure} {before[figure]:.3f} -> {after[figure]:.3f}")
        print(f"round {round_}: " + "; ".join(cells), flush=True)
    for figure in FIGURES:
        print(
            f"{figure}: baseline / this, median over rounds {statistics.median(ratios[figure]):.2f}x "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratios[figure])})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

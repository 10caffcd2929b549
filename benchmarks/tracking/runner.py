"""The workload replayed through one tracker, one request after another, every answer checked."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from benchmarks.tracking.adapters import CheckFailed, Tracker
from benchmarks.tracking.procstats import Meter, settle
from benchmarks.tracking.workload import (
    HISTORY_KEY,
    METRIC_KEYS,
    SEARCH_PARAM,
    SORT_METRIC,
    TOP_K,
    Workload,
    batches,
    expected_history,
    series_points,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    scales: tuple[int, ...] = (1_000, 10_000)  # runs in the searched experiment, grown in this order
    repeats: int = 20  # timed repetitions of each read (search, history)
    history_points: int = 10_000  # per key; the batched ingestion logs this many steps of every key
    batch: int = 1_000  # points per request, MLflow's log-batch cap
    single_points: int = 500
    health_requests: int = 200


@dataclass
class Result:
    product: str
    backend: str
    figures: dict[str, float] = field(default_factory=dict)
    meter: Meter | None = None


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


# What --only can choose; memory is sampled whatever is chosen. `history` reads back the batched points, so it
# runs the batched ingestion too.
PHASES = ("liveness", "search", "batched", "history", "single")


class Runner:
    def __init__(
        self,
        tracker: Tracker,
        workload: Workload,
        sizes: Sizes,
        log: Callable[[str], None],
        phases: tuple[str, ...] = PHASES,
    ) -> None:
        self.tracker, self.workload, self.sizes, self.log = tracker, workload, sizes, log
        self.phases = phases
        self.meter = Meter(tracker.server)
        self.result = Result(tracker.product, tracker.server.backend, meter=self.meter)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        before = self.meter.snapshot()
        yield
        self.meter.record(name, before, self.meter.snapshot())

    def timed(self, call: Callable[[], T]) -> tuple[T, float]:
        t0 = time.perf_counter()
        out = call()
        return out, time.perf_counter() - t0

    def run(self) -> Result:
        t = self.tracker
        self.log(f"  idle after {settle(t.server):.0f} s")
        self.meter.sample_rss()
        if "liveness" in self.phases:
            self.health()
        if "search" in self.phases:
            searched = t.create_experiment(f"search-{time.time_ns()}")
            run_ids: list[str] = []  # server id of the workload's run i
            creation_s = 0.0
            for scale in self.sizes.scales:
                creation_s += self.create_runs(searched, run_ids, scale)
                self.check_listing(searched, run_ids)
                self.search(searched, run_ids, scale)
            self.result.figures["runs_per_s"] = len(run_ids) / creation_s
        experiment_id = t.create_experiment(f"ingest-{time.time_ns()}")
        if {"batched", "history"} & set(self.phases):
            self.ingest_and_read(experiment_id)
        if "single" in self.phases:
            self.single_points(experiment_id)
        self.meter.sample_rss()
        return self.result

    def health(self) -> None:
        for _ in range(5):  # warm-up: connections, caches
            self.tracker.health()
        times = []
        with self.phase("health"):
            for _ in range(self.sizes.health_requests):
                times.append(self.timed(self.tracker.health)[1])
        self.result.figures["health_p50_ms"] = statistics.median(times) * 1000

    def create_runs(self, experiment_id: str, run_ids: list[str], scale: int) -> float:
        """Grow the experiment to `scale` runs: runs with params (timed), then each run's metrics."""
        first = len(run_ids)
        self.log(f"  creating runs {first:,}..{scale - 1:,}")
        seconds = 0.0
        with self.phase("run creation"):
            for i in range(first, scale):
                params = self.workload.run(i).params
                run_id, dt = self.timed(lambda params=params: self.tracker.create_run(experiment_id, params))
                run_ids.append(run_id)
                seconds += dt
        if len(set(run_ids)) != len(run_ids):
            raise CheckFailed("the server gave two runs the same id")
        points = 0
        started = time.perf_counter()
        with self.phase("per-run metrics"):
            for i in range(first, scale):
                plan = self.workload.run(i)
                self.tracker.log_points(run_ids[i], plan.points)
                points += len(plan.points)
        elapsed = time.perf_counter() - started
        done = self.result.figures
        done["summary_points"] = done.get("summary_points", 0) + points
        done["summary_s"] = done.get("summary_s", 0.0) + elapsed
        return seconds

    def check_listing(self, experiment_id: str, run_ids: list[str]) -> None:
        listed = self.tracker.run_ids(experiment_id)
        if sorted(listed) != sorted(run_ids):
            raise CheckFailed(f"the experiment lists {len(listed):,} runs, {len(run_ids):,} were created")

    def search(self, experiment_id: str, run_ids: list[str], scale: int) -> None:
        expected = [run_ids[i] for i in self.workload.expected_top(scale, TOP_K)]
        times = []

        def checked() -> None:
            got = self.tracker.search_top(experiment_id, SEARCH_PARAM, SORT_METRIC, TOP_K)
            if got != expected:
                wrong = next((n for n, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
                raise CheckFailed(
                    f"search at {scale:,} runs: {len(got)} ids, expected {len(expected)}; "
                    f"first difference at position {wrong}"
                )

        checked()  # warm-up, checked too
        with self.phase(f"search at {scale:,} runs"):
            for _ in range(self.sizes.repeats):
                t0 = time.perf_counter()
                checked()
                times.append(time.perf_counter() - t0)
        self.result.figures[f"search_{scale}_p50_ms"] = percentile(times, 50) * 1000
        self.result.figures[f"search_{scale}_p95_ms"] = percentile(times, 95) * 1000
        self.log(f"  search at {scale:,} runs: p50 {percentile(times, 50) * 1000:,.0f} ms")

    def ingest_and_read(self, experiment_id: str) -> None:
        t, sizes = self.tracker, self.sizes
        run_id = t.create_run(experiment_id, {"purpose": "ingestion"})
        points = series_points(sizes.history_points)
        self.log(f"  batched ingestion: {len(points):,} points")
        with self.phase("batched ingestion"):
            t0 = time.perf_counter()
            for batch in batches(points, sizes.batch):
                t.log_points(run_id, batch)
            self.result.figures["batched_points_per_s"] = len(points) / (time.perf_counter() - t0)
        for key in METRIC_KEYS:  # every ingested point reads back
            self.check_history(run_id, key, expected_history(points, key))
        if "history" not in self.phases:
            return
        expected = expected_history(points, HISTORY_KEY)
        times = []
        with self.phase("history"):
            for _ in range(sizes.repeats):
                got, dt = self.timed(lambda: t.history(run_id, HISTORY_KEY))
                times.append(dt)
                if got != expected:
                    raise CheckFailed(
                        f"history: {len(got):,} points, expected {len(expected):,} (or values differ)"
                    )
        self.result.figures["history_p50_ms"] = statistics.median(times) * 1000

    def single_points(self, experiment_id: str) -> None:
        t, sizes = self.tracker, self.sizes
        single_run = t.create_run(experiment_id, {"purpose": "single-points"})
        singles = series_points(sizes.single_points)[: sizes.single_points]
        self.log(f"  one point per request: {len(singles):,} points")
        with self.phase("one point per request"):
            t0 = time.perf_counter()
            for point in singles:
                t.log_point(single_run, point)
            self.result.figures["single_points_per_s"] = len(singles) / (time.perf_counter() - t0)
        for key in METRIC_KEYS:
            self.check_history(single_run, key, expected_history(singles, key))

    def check_history(self, run_id: str, key: str, expected: list[tuple[int, float]]) -> None:
        got = self.tracker.history(run_id, key)
        if got != expected:
            raise CheckFailed(
                f"{key} of run {run_id}: read {len(got):,} points back, expected {len(expected):,}"
            )

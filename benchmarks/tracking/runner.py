"""The workload replayed through one tracker, one request after another, every answer checked.

Each timed figure is measured in `Sizes.parts` parts (a share of its requests each; run creation and each run's
metrics in that many parts at each scale), and `Runner.steps` pauses after every part, so that two runners can
take turns (`pairing`): MLflow's part i and XCL Lab's part i then run seconds apart, not minutes."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from benchmarks.tracking.adapters import CheckFailed, Tracker
from benchmarks.tracking.procstats import Measured, Meter, settle
from benchmarks.tracking.workload import (
    HISTORY_KEY,
    METRIC_KEYS,
    SEARCH_PARAM,
    SORT_METRIC,
    TOP_K,
    Point,
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
    parts: int = 20  # each timed figure measured in this many parts (a pairing's turns)


@dataclass
class Result:
    product: str
    backend: str
    figures: dict[str, float] = field(default_factory=dict)
    meter: Meter | None = None
    slow_to_settle: int = 0  # turns of a pairing after which the server did not go idle in time
    # Each figure measured on each part alone, in order, for a pairing's part-by-part ratios; run creation's and
    # each run's metrics' per scale (`runs_per_s_1000`), as the parts at each scale are alike.
    parts: dict[str, list[float]] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


# What --only can choose; memory is sampled whatever is chosen. `history` reads back the batched points, so it
# runs the batched ingestion too.
PHASES = ("liveness", "search", "batched", "history", "single")
# The bare socket's p50 (ms), timed beside liveness in a paired run: part medians in `Result.parts`, overall in
# `Result.figures`.
SOCKET_FIGURE = "socket_p50_ms"


def split(items: Sequence[T], parts: int) -> list[Sequence[T]]:
    """`items` in up to `parts` consecutive, near-equal, non-empty slices (none for no items)."""
    count = min(max(1, parts), len(items))
    if not count:
        return []
    bounds = [len(items) * k // count for k in range(count + 1)]
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


class Runner:
    def __init__(
        self,
        tracker: Tracker,
        workload: Workload,
        sizes: Sizes,
        log: Callable[[str], None],
        phases: tuple[str, ...] = PHASES,
        meter: Meter | None = None,
        warm_each_part: bool = False,
        floor: Callable[[], object] | None = None,
    ) -> None:
        self.tracker, self.workload, self.sizes, self.log = tracker, workload, sizes, log
        self.phases, self.warm_each_part = phases, warm_each_part
        # A checked request to the bare socket (`ceilings.socket_beside`), timed in each liveness part too.
        self.floor = floor
        self.meter = meter if meter is not None else Meter(tracker.server)
        self.result = Result(tracker.product, tracker.server.backend, meter=self.meter)

    @property
    def server(self) -> Measured:
        return self.tracker.server

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """One part of a phase: the meter adds the parts up, and never counts the time between them (a pairing
        runs the other server's part there). With `warm_each_part` (a pairing) an untimed liveness request opens
        each part, so that its first timed request does not pay for waking the server after the other's turn."""
        before = self.meter.snapshot()
        if self.warm_each_part:
            self.tracker.health()
        yield
        self.meter.record(name, before, self.meter.snapshot(closing=True))

    def timed(self, call: Callable[[], T]) -> tuple[T, float]:
        t0 = time.perf_counter()
        out = call()
        return out, time.perf_counter() - t0

    def record_part(self, figure: str, value: float) -> None:
        """The figure as measured on one part alone (`Result.parts`)."""
        self.result.parts.setdefault(figure, []).append(value)

    def latency_parts(
        self,
        phase: str,
        figure: str,
        requests: int,
        call: Callable[[], T],
        check: Callable[[T], None] | None = None,
        beside: tuple[str, Callable[[], object]] | None = None,
    ) -> Generator[str, None, list[float]]:
        """`call` timed `requests` times, part by part, pausing after each part, each answer given to `check`
        outside the timing; records each part's median (ms) as `figure` and returns every time, in seconds.

        `beside`, a figure's name and a call: that call timed as often in the same parts, in a block of its own
        before or after `call`'s (after in even parts, before in odd ones: A B B A), each block opened by an untimed
        request in a pairing; its part medians and overall median are recorded under that name."""
        times: list[float] = []
        beside_times: list[float] = []
        for n, part in enumerate(split(range(requests), self.sizes.parts)):
            chunk: list[float] = []
            beside_chunk: list[float] = []
            with self.phase(phase):
                if beside is not None and n % 2:
                    beside_chunk = self._block(beside[1], len(part))
                if beside is not None and n % 2 and self.warm_each_part:
                    call()  # after the other block, as `phase` opens each part
                for _ in part:
                    out, dt = self.timed(call)
                    chunk.append(dt)
                    if check is not None:
                        check(out)
                if beside is not None and not n % 2:
                    beside_chunk = self._block(beside[1], len(part))
            times += chunk
            self.record_part(figure, statistics.median(chunk) * 1000)
            if beside is not None:
                beside_times += beside_chunk
                self.record_part(beside[0], statistics.median(beside_chunk) * 1000)
            yield phase
        if beside is not None and beside_times:
            self.result.figures[beside[0]] = statistics.median(beside_times) * 1000
        return times

    def _block(self, call: Callable[[], object], count: int) -> list[float]:
        """`call` timed `count` times in a row (after an untimed one, in a pairing)."""
        if self.warm_each_part:
            call()
        return [self.timed(call)[1] for _ in range(count)]

    def rate_parts(
        self, phase: str, figure: str, items: Sequence[T], send: Callable[[T], int]
    ) -> Generator[str, None, tuple[int, float]]:
        """`send` for each item, timed part by part, pausing after each part; `send` returns how many units (runs,
        points) the item carried. Records each part's units per second as `figure`; returns the units and the
        seconds in all."""
        units, seconds = 0, 0.0
        for part in split(items, self.sizes.parts):
            with self.phase(phase):
                t0 = time.perf_counter()
                done = sum(send(item) for item in part)
                dt = time.perf_counter() - t0
            units, seconds = units + done, seconds + dt
            self.record_part(figure, done / dt)
            yield phase
        return units, seconds

    def run(self) -> Result:
        self.log(f"  idle after {settle(self.tracker.server):.0f} s")
        for _ in self.steps():
            pass
        return self.result

    def steps(self) -> Iterator[str]:
        """The workload, pausing after each part of a timed figure with the name of its phase; two runners of
        the same workload and sizes pause at the same names in the same order."""
        t = self.tracker
        self.meter.sample_rss()
        if "liveness" in self.phases:
            yield from self.health()
        if "search" in self.phases:
            searched = t.create_experiment(f"search-{time.time_ns()}")
            run_ids: list[str] = []  # server id of the workload's run i
            creation_s = 0.0
            for scale in self.sizes.scales:
                creation_s += yield from self.create_runs(searched, run_ids, scale)
                self.check_listing(searched, run_ids)
                yield from self.search(searched, run_ids, scale)
            self.result.figures["runs_per_s"] = len(run_ids) / creation_s
        experiment_id = t.create_experiment(f"ingest-{time.time_ns()}")
        if {"batched", "history"} & set(self.phases):
            yield from self.ingest_and_read(experiment_id)
        if "single" in self.phases:
            yield from self.single_points(experiment_id)
        self.meter.sample_rss()

    def health(self) -> Iterator[str]:
        for _ in range(5):  # warm-up: connections, caches
            self.tracker.health()
            if self.floor is not None:
                self.floor()
        beside = None if self.floor is None else (SOCKET_FIGURE, self.floor)
        times = yield from self.latency_parts(
            "health", "health_p50_ms", self.sizes.health_requests, self.tracker.health, beside=beside
        )
        self.result.figures["health_p50_ms"] = statistics.median(times) * 1000

    def create_runs(self, experiment_id: str, run_ids: list[str], scale: int) -> Generator[str, None, float]:
        """Grow the experiment to `scale` runs: runs with params (timed), then each run's metrics. Returns the
        seconds the creation requests took."""
        first = len(run_ids)
        self.log(f"  creating runs {first:,}..{scale - 1:,}")
        params = [self.workload.run(i).params for i in range(first, scale)]

        def create(run_params: dict[str, str]) -> int:
            run_ids.append(self.tracker.create_run(experiment_id, run_params))
            return 1

        _, seconds = yield from self.rate_parts("run creation", f"runs_per_s_{scale}", params, create)
        if len(set(run_ids)) != len(run_ids):
            raise CheckFailed("the server gave two runs the same id")

        def log_summary(i: int) -> int:
            plan = self.workload.run(i)
            self.tracker.log_points(run_ids[i], plan.points)
            return len(plan.points)

        points, elapsed = yield from self.rate_parts(
            "per-run metrics", f"summary_points_per_s_{scale}", range(first, scale), log_summary
        )
        done = self.result.figures
        done["summary_points"] = done.get("summary_points", 0) + points
        done["summary_s"] = done.get("summary_s", 0.0) + elapsed
        return seconds

    def check_listing(self, experiment_id: str, run_ids: list[str]) -> None:
        listed = self.tracker.run_ids(experiment_id)
        if sorted(listed) != sorted(run_ids):
            raise CheckFailed(f"the experiment lists {len(listed):,} runs, {len(run_ids):,} were created")

    def search(self, experiment_id: str, run_ids: list[str], scale: int) -> Iterator[str]:
        expected = [run_ids[i] for i in self.workload.expected_top(scale, TOP_K)]

        def checked() -> None:
            got = self.tracker.search_top(experiment_id, SEARCH_PARAM, SORT_METRIC, TOP_K)
            if got != expected:
                wrong = next((n for n, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
                raise CheckFailed(
                    f"search at {scale:,} runs: {len(got)} ids, expected {len(expected)}; "
                    f"first difference at position {wrong}"
                )

        checked()  # warm-up, checked too
        times = yield from self.latency_parts(
            f"search at {scale:,} runs", f"search_{scale}_p50_ms", self.sizes.repeats, checked
        )
        self.result.figures[f"search_{scale}_p50_ms"] = percentile(times, 50) * 1000
        self.result.figures[f"search_{scale}_p95_ms"] = percentile(times, 95) * 1000
        self.log(f"  search at {scale:,} runs: p50 {percentile(times, 50) * 1000:,.0f} ms")

    def ingest_and_read(self, experiment_id: str) -> Iterator[str]:
        t, sizes = self.tracker, self.sizes
        run_id = t.create_run(experiment_id, {"purpose": "ingestion"})
        points = series_points(sizes.history_points)
        self.log(f"  batched ingestion: {len(points):,} points")

        def log_batch(batch: list[Point]) -> int:
            t.log_points(run_id, batch)
            return len(batch)

        _, seconds = yield from self.rate_parts(
            "batched ingestion", "batched_points_per_s", list(batches(points, sizes.batch)), log_batch
        )
        self.result.figures["batched_points_per_s"] = len(points) / seconds
        for key in METRIC_KEYS:  # every ingested point reads back
            self.check_history(run_id, key, expected_history(points, key))
        if "history" not in self.phases:
            return
        expected = expected_history(points, HISTORY_KEY)

        def check(got: list[tuple[int, float]]) -> None:
            if got != expected:
                raise CheckFailed(
                    f"history: {len(got):,} points, expected {len(expected):,} (or values differ)"
                )

        times = yield from self.latency_parts(
            "history", "history_p50_ms", sizes.repeats, lambda: t.history(run_id, HISTORY_KEY), check
        )
        self.result.figures["history_p50_ms"] = statistics.median(times) * 1000

    def single_points(self, experiment_id: str) -> Iterator[str]:
        t, sizes = self.tracker, self.sizes
        single_run = t.create_run(experiment_id, {"purpose": "single-points"})
        singles = series_points(sizes.single_points)[: sizes.single_points]
        self.log(f"  one point per request: {len(singles):,} points")

        def log_one(point: Point) -> int:
            t.log_point(single_run, point)
            return 1

        _, seconds = yield from self.rate_parts(
            "one point per request", "single_points_per_s", singles, log_one
        )
        self.result.figures["single_points_per_s"] = len(singles) / seconds
        for key in METRIC_KEYS:
            self.check_history(single_run, key, expected_history(singles, key))

    def check_history(self, run_id: str, key: str, expected: list[tuple[int, float]]) -> None:
        got = self.tracker.history(run_id, key)
        if got != expected:
            raise CheckFailed(
                f"{key} of run {run_id}: read {len(got):,} points back, expected {len(expected):,}"
            )

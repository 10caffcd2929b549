"""Two servers taking turns part by part: the order of turns, the paired ratio and its interval, and a real
pairing of two XCL Lab servers through the benchmark's own runner (figures printed by the benchmark, never
asserted here)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.tracking import report, servers
from benchmarks.tracking.adapters import XclLab
from benchmarks.tracking.pairing import OutOfStep, median_interval, paired_ratio, take_turns
from benchmarks.tracking.procstats import Meter
from benchmarks.tracking.runner import Result, Runner, Sizes, split
from benchmarks.tracking.workload import Workload


class _Scripted:
    """A runner that pauses at the given names and notes when each of its parts ran."""

    def __init__(self, name: str, pauses: list[str], ran: list[str]) -> None:
        self.name, self.pauses, self.ran = name, pauses, ran
        self.tracker = SimpleNamespace(server=name)
        self.result = Result(name, "sqlite")

    def steps(self) -> Iterator[str]:
        for index, pause in enumerate(self.pauses):
            self.ran.append(f"{self.name}{index}")
            yield pause


def test_turns_alternate_which_server_goes_first() -> None:
    ran: list[str] = []
    settled: list[object] = []
    a = _Scripted("A", ["x", "x", "y", "y"], ran)
    b = _Scripted("B", ["x", "x", "y", "y"], ran)
    assert take_turns(a, b, settled.append) == (a.result, b.result)  # type: ignore[arg-type]
    assert ran == ["A0", "B0", "B1", "A1", "A2", "B2", "B3", "A3"]
    assert settled == ["A", "B", "A"]


@pytest.mark.parametrize(("a", "b"), [(["x", "y"], ["x", "z"]), (["x", "y"], ["x"])])
def test_runners_out_of_step_are_refused(a: list[str], b: list[str]) -> None:
    ran: list[str] = []
    with pytest.raises(OutOfStep):
        take_turns(_Scripted("A", a, ran), _Scripted("B", b, ran), lambda _: None)  # type: ignore[arg-type]


def test_the_median_interval_takes_the_sign_tests_order_statistics() -> None:
    values = [float(v) for v in (5, 1, 9, 3, 7, 2, 10, 4, 8, 6)]
    assert median_interval(values) == (2.0, 9.0)  # n = 10: the 2nd smallest and 2nd largest (97.9 %)
    assert median_interval(values[:6]) == (1.0, 9.0)  # n = 6: the extremes (96.9 %)
    assert median_interval(values[:5]) is None  # n = 5: even the extremes cover only 93.8 %
    assert median_interval([float(v) for v in range(20)]) == (5.0, 14.0)  # n = 20: 6th and 15th (95.9 %)


def test_a_paired_ratio_compares_part_i_with_part_i() -> None:
    theirs, ours = Result("MLflow", "sqlite"), Result("XCL Lab", "sqlite")
    theirs.parts = {"rate": [10.0, 10.0, 10.0, 10.0, 10.0, 10.0], "ms": [8.0, 4.0, 8.0, 4.0, 8.0, 4.0]}
    ours.parts = {"rate": [20.0, 40.0, 30.0, 20.0, 40.0, 30.0], "ms": [2.0, 1.0, 2.0, 1.0, 2.0, 1.0]}
    rate = paired_ratio(theirs, ours, "rate", higher_is_better=True)
    assert rate is not None and rate.median == 3.0 and rate.interval == (2.0, 4.0) and rate.pairs == 6
    latency = paired_ratio(theirs, ours, "ms", higher_is_better=False)
    assert latency is not None and latency.median == 4.0  # 8/2 and 4/1: paired, not the 6/1.5 of the means
    assert paired_ratio(theirs, ours, "absent", higher_is_better=True) is None


def test_split_gives_near_equal_consecutive_parts() -> None:
    assert [list(p) for p in split(range(7), 3)] == [[0, 1], [2, 3], [4, 5, 6]]
    assert [list(p) for p in split(range(2), 5)] == [[0], [1]]
    assert split([], 3) == []


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[servers.Server, servers.Server]]:
    started = [
        servers.start_xclab(sys.executable, tmp_path / name, "sqlite", None, None) for name in ("a", "b")
    ]
    try:
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def test_two_real_servers_take_turns_through_the_whole_workload(two_servers) -> None:  # type: ignore[no-untyped-def]
    sizes = Sizes(
        scales=(12, 24), repeats=4, history_points=30, batch=40, single_points=6, health_requests=6, parts=3
    )
    trackers = [XclLab(server) for server in two_servers]
    try:
        runners = [
            Runner(t, Workload(0), sizes, lambda _: None, meter=Meter(t.server, partners=(other.server,)))
            for t, other in zip(trackers, reversed(trackers), strict=True)
        ]
        first, second = take_turns(*runners, wait_idle=lambda _: None)
    finally:
        for tracker in trackers:
            tracker.close()
    expected_parts = {
        "health_p50_ms": 3,
        "runs_per_s": 6,  # 3 parts at each of the two scales
        "summary_points_per_s": 6,
        "search_12_p50_ms": 3,
        "search_24_p50_ms": 3,
        "batched_points_per_s": 3,  # 150 points in 4 requests, in 3 parts
        "history_p50_ms": 3,
        "single_points_per_s": 3,
    }
    for result in (first, second):
        assert {k: len(v) for k, v in result.parts.items()} == expected_parts
        assert all(v > 0 for values in result.parts.values() for v in values)
        assert result.meter is not None and result.meter.partner_cores() is not None
    table = report.figures_table(first, second, sizes, paired=True)
    assert table[0].endswith("paired ratio: median of parts (95 % interval, pairs) |")
    history = next(line for line in table if line.startswith("| 30-point history"))
    assert history.endswith(", 3) |") and "too few pairs" in history

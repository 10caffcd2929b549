"""Two servers taking turns part by part: the order of turns, the paired ratio and its interval, the partners'
CPU, and a real pairing of two XCL Lab servers through the benchmark's own runner (which figures are measured,
never how fast)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.tracking import ceilings, report, servers
from benchmarks.tracking.adapters import XclLab
from benchmarks.tracking.pairing import (
    BETWEEN_TURNS,
    SETTLE_LIMIT_S,
    OutOfStep,
    block_ratios,
    median_interval,
    paired_ratio,
    take_turns,
)
from benchmarks.tracking.procstats import Meter, Snapshot
from benchmarks.tracking.runner import Result, Runner, Sizes, split
from benchmarks.tracking.workload import Workload


class _Scripted:
    """A runner that pauses at the given names and notes when each of its parts ran."""

    def __init__(self, name: str, pauses: list[str], ran: list[str]) -> None:
        self.name, self.pauses, self.ran = name, pauses, ran
        self.server = SimpleNamespace(name=name, pids=list, tree_pids=list, serving_pid=lambda: None)
        self.meter = Meter(self.server)
        self.result = Result(name, "sqlite", meter=self.meter)

    def steps(self) -> Iterator[str]:
        for index, pause in enumerate(self.pauses):
            self.ran.append(f"{self.name}{index}")
            yield pause


def test_turns_alternate_which_server_goes_first_and_let_the_last_one_settle() -> None:
    ran: list[str] = []
    settled: list[str] = []

    def between(server: SimpleNamespace) -> float:
        ran.append(f"settle {server.name}")
        return SETTLE_LIMIT_S if server.name == "B" else 0.0  # B never goes idle in time

    a = _Scripted("A", ["x", "x", "y", "y"], ran)
    b = _Scripted("B", ["x", "x", "y", "y"], ran)
    assert take_turns(a, b, lambda s: settled.append(s.name), between) == (a.result, b.result)
    parts = [step for step in ran if not step.startswith("settle")]
    assert parts == ["A0", "B0", "B1", "A1", "A2", "B2", "B3", "A3"]
    assert ran[:4] == ["A0", "settle A", "B0", "settle B"]  # each turn's server settles before the next turn
    assert ran[-1] == "settle A" and len(ran) == 16  # no wait once both are done
    assert settled == ["A", "B", "A"]
    assert (a.result.slow_to_settle, b.result.slow_to_settle) == (0, 4)
    assert BETWEEN_TURNS in a.meter.phases and BETWEEN_TURNS in b.meter.phases  # the waits are metered


@pytest.mark.parametrize(("a", "b"), [(["x", "y"], ["x", "z"]), (["x", "y"], ["x"])])
def test_runners_out_of_step_are_refused(a: list[str], b: list[str]) -> None:
    ran: list[str] = []
    with pytest.raises(OutOfStep) as refused:
        take_turns(_Scripted("A", a, ran), _Scripted("B", b, ran), lambda _: None, lambda _: 0.0)
    # The second pair, B's turn first: B's second pause against A's.
    assert str(refused.value) == f"B paused at {b[1] if len(b) > 1 else None!r}, A at 'y'"


def test_the_median_interval_takes_the_sign_tests_order_statistics() -> None:
    values = [float(v) for v in (5, 1, 9, 3, 7, 2, 10, 4, 8, 6)]
    assert median_interval(values) == (2.0, 9.0)  # n = 10: the 2nd smallest and 2nd largest (97.9 %)
    assert median_interval(values[:6]) == (1.0, 9.0)  # n = 6: the extremes (96.9 %)
    assert median_interval(values[:5]) is None  # n = 5: even the extremes cover only 93.8 %
    assert median_interval([float(v) for v in range(20)]) == (5.0, 14.0)  # n = 20: 6th and 15th (95.9 %)


def test_a_block_cancels_a_steady_drift() -> None:
    # Latencies growing by d each turn: A runs at turns 0 and 3, B at 1 and 2 (A B B A). Alone, the pairs say
    # a / (b d) and a d / b; the block, their geometric mean, says a / b.
    a, b, d = 8.0, 2.0, 1.5
    assert block_ratios([a, a * d**3], [b * d, b * d**2], higher_is_better=False) == [pytest.approx(a / b)]
    # Rates: the same, inverted; an odd last pair is left out.
    assert block_ratios([10.0, 10.0, 10.0], [20.0, 80.0, 99.0], higher_is_better=True) == [4.0]


def test_a_paired_ratio_compares_part_i_with_part_i() -> None:
    theirs, ours = Result("MLflow", "sqlite"), Result("XCL Lab", "sqlite")
    # Latency parts slow and fast in turn: the pairs say 2 and 4 (each block 8 ** 0.5), the means 6 / 2.5 = 2.4.
    theirs.parts = {"ms": [8.0, 4.0] * 6, "rate": [10.0] * 12}
    ours.parts = {"ms": [4.0, 1.0] * 6, "rate": [10.0, 40.0] * 3 + [10.0, 90.0] * 3}
    latency = paired_ratio(theirs, ours, "ms", higher_is_better=False)
    assert latency is not None and latency.median == pytest.approx(8**0.5) and latency.blocks == 6
    rate = paired_ratio(theirs, ours, "rate", higher_is_better=True)
    # Three blocks of 2 and three of 3: the middle taken on logarithms, the interval the extremes (6 blocks).
    assert rate is not None and rate.median == pytest.approx(6**0.5)
    assert rate.interval == (pytest.approx(2.0), pytest.approx(3.0))
    assert paired_ratio(theirs, ours, "absent", higher_is_better=True) is None


def test_the_partners_cpu_is_kept_apart_from_outside_load() -> None:
    meter = Meter(SimpleNamespace(), partners=(SimpleNamespace(),))  # type: ignore[arg-type]
    before = Snapshot(0.0, 100.0, {1: 1.0}, 5.0, {7: 2.0, 8: 9.0})
    # In 2 s: the machine busy 3 s, the server 1 s, us 0.5 s, the partner 0.5 s from pid 7 and 0.25 s from a new
    # pid 9, and its pid 8 ended (its seconds are not taken off): 0.75 s of outside CPU is left, 0.375 cores.
    after = Snapshot(2.0, 103.0, {1: 2.0}, 5.5, {7: 2.5, 9: 0.25})
    meter.sample_rss = lambda: None  # type: ignore[method-assign]
    meter.record("phase", before, after)
    phase = meter.phases["phase"]
    assert phase.server_cpu == 1.0 and phase.partner_cpu == 0.75
    assert phase.outside_cores == pytest.approx(0.375)
    # A second part whose ticks read slightly below zero is added before clamping, not clamped on its own.
    meter.record("phase", Snapshot(0.0, 0.0, {}, 0.0), Snapshot(2.0, 0.0, {}, 0.25))
    assert meter.phases["phase"].wall == 4.0 and meter.phases["phase"].outside_cores == pytest.approx(0.125)
    assert meter.partner_cores() == pytest.approx(0.75 / 4.0)
    # The waits between turns are metered but left out of the load measured while figures were timed.
    meter.record(BETWEEN_TURNS, Snapshot(0.0, 0.0, {}, 0.0, {7: 0.0}), Snapshot(10.0, 5.0, {}, 0.0, {7: 5.0}))
    assert meter.outside_cores() == pytest.approx(0.125) and meter.partner_cores() == pytest.approx(
        0.75 / 4.0
    )


def test_a_call_beside_is_timed_in_a_block_of_each_part_first_and_last_in_turn() -> None:
    nowhere = SimpleNamespace(pids=list, tree_pids=list, serving_pid=lambda: None, backend="sqlite")
    calls: list[str] = []
    runner = Runner(
        SimpleNamespace(product="A", server=nowhere, health=lambda: calls.append("open")),  # type: ignore[arg-type]
        Workload(0),
        Sizes(parts=2),
        lambda _: None,
        warm_each_part=True,
    )
    parts = runner.latency_parts(
        "health", "live", 4, lambda: calls.append("live"), beside=("floor", lambda: calls.append("floor"))
    )
    assert list(parts) == ["health", "health"]
    # Each part opens with an untimed request ("open", then each block's first); A B, then B A.
    assert calls == ["open", "live", "live", "floor", "floor", "floor"] + [
        "open", "floor", "floor", "floor", "live", "live", "live",
    ]  # fmt: skip
    assert len(runner.result.parts["live"]) == len(runner.result.parts["floor"]) == 2
    assert runner.result.figures["floor"] > 0 and "live" not in runner.result.figures


def test_split_gives_near_equal_consecutive_parts() -> None:
    assert [list(p) for p in split(range(7), 3)] == [[0, 1], [2, 3], [4, 5, 6]]
    assert [list(p) for p in split(range(2), 5)] == [[0], [1]]
    assert split([], 3) == []


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[servers.Server, servers.Server]]:
    started: list[servers.Server] = []
    try:
        for name in ("a", "b"):
            started.append(servers.start_xclab(sys.executable, tmp_path / name, "sqlite", None, None))
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


@pytest.mark.timeout(300)
def test_two_real_servers_take_turns_through_the_whole_workload(
    two_servers: tuple[servers.Server, servers.Server],
) -> None:
    sizes = Sizes(
        scales=(12, 24), repeats=4, history_points=30, batch=40, single_points=6, health_requests=6, parts=4
    )
    trackers = [XclLab(server) for server in two_servers]
    with ceilings.socket_beside() as socket:
        callers = [ceilings.socket_caller(socket, "plain") for _ in trackers]
        try:
            runners = [
                Runner(
                    t,
                    Workload(0),
                    sizes,
                    lambda _: None,
                    meter=Meter(t.server, partners=(other.server, socket)),
                    warm_each_part=True,
                    floor=call,
                )
                for t, other, (call, _) in zip(trackers, reversed(trackers), callers, strict=True)
            ]
            first, second = take_turns(*runners, settle_first=lambda _: None)
        finally:
            for tracker in trackers:
                tracker.close()
            for _, close in callers:
                close()
    expected_parts = {
        "health_p50_ms": 4,
        "socket_p50_ms": 4,  # the bare socket, timed beside liveness
        "runs_per_s_12": 4,
        "runs_per_s_24": 4,
        "summary_points_per_s_12": 4,
        "summary_points_per_s_24": 4,
        "search_12_p50_ms": 4,
        "search_24_p50_ms": 4,
        "batched_points_per_s": 4,  # 150 points in 4 requests
        "history_p50_ms": 4,
        "single_points_per_s": 4,
    }
    for result in (first, second):
        assert {k: len(v) for k, v in result.parts.items()} == expected_parts
        assert all(v > 0 for values in result.parts.values() for v in values)
        assert result.meter is not None and result.meter.phases[BETWEEN_TURNS].wall > 0
    # Every timed figure, and both runners' own, were all measured: the same figures as a run alone.
    assert set(first.figures) == set(second.figures) >= {"runs_per_s", "history_p50_ms", "health_p50_ms"}
    table = report.figures_table(first, second, sizes, paired=True)
    assert table[0].endswith("paired ratio: median over blocks (95 % interval, blocks) |")
    history = next(line for line in table if line.startswith("| 30-point history"))
    assert history.endswith("(no interval, 2) |")  # 4 parts: 2 blocks, too few for an interval
    creation = next(line for line in table if line.startswith("| run creation"))
    assert "to 12: " in creation and "; to 24: " in creation
    (beside,) = ceilings.paired_socket_lines([first, second])
    assert "(median over 4 parts, 95 % interval)" in beside and beside.count("no interval") == 2

"""Two servers up at once, taking turns part by part, and the ratio of their figures block by block.

Run one server's whole workload and then the other's, and their ratio carries whatever the machine did in the
minutes between (on a shared 2-core machine, figures of unchanged code moved by up to nearly 2× between runs). Here
both servers are up, and their runners alternate after every part of every timed figure (`Runner.steps`) in the
order A B B A, A B B A, ...; after each turn the server that just ran is given a moment to go idle, so that work
it left behind (a checkpoint, planner statistics, a job runner) does not land in the other's part. That wait is
metered as the server's own phase, "between turns", so the work it hides from the timed parts still shows in the
CPU table.

Each block of four turns (A B B A) gives one ratio: the geometric mean of its two pairs' ratios, in which going
first or second, and a drift that is steady across the block, cancel. The paired figure is the median of the
blocks' ratios with a sign-test 95 % interval for it, valid when the blocks' ratios are independent draws with a
common median; neighbouring blocks on a drifting machine are not quite that, so read the interval as a guide.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from math import comb
from typing import Protocol

from benchmarks.tracking.procstats import BETWEEN_TURNS, Measured, Meter, settle
from benchmarks.tracking.runner import Result

CONFIDENCE = 0.95
SETTLE_LIMIT_S = 5.0
# Between turns: the server that just ran counts as idle once it used under 0.075 cores over 0.2 s (one 10 ms tick
# of CPU time passes, two do not), waiting at most SETTLE_LIMIT_S for it.
between_turns = partial(settle, idle_cores=0.075, window=0.2, timeout=SETTLE_LIMIT_S)


class OutOfStep(RuntimeError):
    """The two runners paused at different points: they are not running the same workload (a benchmark bug)."""


class TakesTurns(Protocol):
    """What `take_turns` needs of a runner (`runner.Runner`)."""

    @property
    def server(self) -> Measured: ...

    @property
    def result(self) -> Result: ...

    @property
    def meter(self) -> Meter: ...

    def steps(self) -> Iterator[str]: ...


def _settle_after_turn(runner: TakesTurns, between: Callable[[Measured], float]) -> None:
    before = runner.meter.snapshot()
    waited = between(runner.server)
    runner.meter.record(BETWEEN_TURNS, before, runner.meter.snapshot(closing=True))
    if waited >= SETTLE_LIMIT_S:
        runner.result.slow_to_settle += 1


def take_turns(
    first: TakesTurns,
    second: TakesTurns,
    settle_first: Callable[[Measured], object] = settle,
    between: Callable[[Measured], float] = between_turns,
) -> tuple[Result, Result]:
    """Both workloads, in the order A B B A ... part by part. Before the first turn each server is left to settle
    (the other up beside it); after every turn, the one that just ran (`_settle_after_turn`)."""
    for runner in (first, second, first):
        settle_first(runner.server)
    runners = (first, second)
    turns = (first.steps(), second.steps())
    ahead = 0  # which runner goes first in this pair
    while True:
        names = []
        for index in (ahead, 1 - ahead):
            names.append(next(turns[index], None))
            if names[-1] is not None:
                _settle_after_turn(runners[index], between)
        if names[0] != names[1]:
            order = (first.result.product, second.result.product)
            raise OutOfStep(f"{order[ahead]} paused at {names[0]!r}, {order[1 - ahead]} at {names[1]!r}")
        if names[0] is None:
            return first.result, second.result
        ahead = 1 - ahead


def median_interval(values: list[float]) -> tuple[float, float] | None:
    """A distribution-free interval for the median, at least CONFIDENCE (the sign test's order statistics):
    the k-th smallest and k-th largest value, k as large as the binomial tails allow. None when there are too
    few values for one (fewer than 6)."""
    ordered, n = sorted(values), len(values)
    k, below = 0, 0.0  # P(fewer than k+1 of n fall below the median) for a fair coin
    while k < n and below + comb(n, k) / 2**n <= (1 - CONFIDENCE) / 2:
        below += comb(n, k) / 2**n
        k += 1
    return (ordered[k - 1], ordered[n - k]) if k else None


@dataclass(frozen=True)
class PairedRatio:
    median: float
    interval: tuple[float, float] | None
    blocks: int


def block_ratios(theirs: list[float], ours: list[float], higher_is_better: bool) -> list[float]:
    """Part i against part i, oriented so that > 1 favours `ours`; then each A B B A block of two pairs as one
    ratio, their geometric mean. An odd last pair is left out."""
    pairs = [o / t if higher_is_better else t / o for t, o in zip(theirs, ours, strict=True)]
    return [math.sqrt(pairs[i] * pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)]


def paired_ratio(theirs: Result, ours: Result, figure: str, higher_is_better: bool) -> PairedRatio | None:
    """The median of the blocks' ratios, taken on logarithms (so that it does not depend on which way the ratio
    is written), and its interval; None when either side did not measure the figure in matching parts."""
    a, b = theirs.parts.get(figure), ours.parts.get(figure)
    if not a or not b or len(a) != len(b) or len(a) < 2:
        return None
    blocks = block_ratios(a, b, higher_is_better)
    median = math.exp(statistics.median(math.log(r) for r in blocks))
    return PairedRatio(median, median_interval(blocks), len(blocks))

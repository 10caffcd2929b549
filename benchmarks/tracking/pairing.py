"""Two servers up at once, taking turns part by part, and the ratio of each pair of parts.

Run one server's whole workload and then the other's, and their ratio carries whatever the machine did in the
minutes between (on a shared 2-core machine, figures of unchanged code moved by up to 2× between runs). Here
both servers are up, and their runners alternate after every part of every timed figure (`Runner.steps`), in
the order A B B A A B ..., so that neither always goes first. Each part's ratio compares two measurements
seconds apart; the median over parts, with a distribution-free 95 % interval, is the paired figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from math import comb

from benchmarks.tracking.procstats import Measured, settle
from benchmarks.tracking.runner import Result, Runner

CONFIDENCE = 0.95


class OutOfStep(RuntimeError):
    """The two runners paused at different figures: they are not running the same workload."""


def take_turns(
    first: Runner, second: Runner, wait_idle: Callable[[Measured], object] = settle
) -> tuple[Result, Result]:
    """Both workloads, alternating after every part; each server is idle before it starts (the other, up
    beside it, has settled first)."""
    for runner in (first, second, first):
        wait_idle(runner.tracker.server)
    turns = (first.steps(), second.steps())
    flipped = False
    while True:
        ahead, behind = (turns[1], turns[0]) if flipped else turns
        names = (next(ahead, None), next(behind, None))
        if names[0] != names[1]:
            raise OutOfStep(f"one server paused at {names[0]!r}, the other at {names[1]!r}")
        if names[0] is None:
            return first.result, second.result
        flipped = not flipped


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
    pairs: int


def paired_ratio(theirs: Result, ours: Result, figure: str, higher_is_better: bool) -> PairedRatio | None:
    """Part i of one against part i of the other, oriented so that > 1 favours `ours`."""
    a, b = theirs.parts.get(figure), ours.parts.get(figure)
    if not a or not b or len(a) != len(b):
        return None
    ratios = [o / t if higher_is_better else t / o for t, o in zip(a, b, strict=True)]
    return PairedRatio(statistics.median(ratios), median_interval(ratios), len(ratios))

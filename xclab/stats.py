"""Small-sample statistics for comparing training methods over paired seeds: Student-t intervals, the paired
t-test, exact sign and McNemar tests, and a percentile bootstrap of the gap reduction.

Pure Python (math, random): the core package and the API image carry no numpy or scipy. The t distribution is
computed from the regularised incomplete beta function (a Lentz continued fraction), accurate to ~1e-12,
which the tests check against scipy's values."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

CONFIDENCE = 0.95


# --- the t distribution -------------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


@lru_cache(maxsize=1024)
def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (bisection on the survival function, ~3 ms; cached, since reports ask for
    the same few (p, df) pairs over and over)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1.0 - p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_sf(mid, df) > 1.0 - p else (lo, mid)
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


# --- exact binomial tests -----------------------------------------------------------------------------------


def sign_test(positive: int, negative: int) -> float:
    """Exact two-sided sign test (ties already dropped): P of a split at least this lopsided under p = 1/2."""
    n = positive + negative
    if n == 0:
        return 1.0
    k = min(positive, negative)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on paired per-sample correctness: only the discordant samples count."""

    only_a: int  # samples A gets right and B wrong
    only_b: int  # samples B gets right and A wrong
    p_value: float


def mcnemar(targets: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int]) -> McNemar:
    if not len(targets) == len(pred_a) == len(pred_b):
        raise ValueError(
            f"McNemar needs predictions for the same samples: {len(targets)} targets, "
            f"{len(pred_a)} and {len(pred_b)} predictions"
        )
    only_a = sum(a == t and b != t for t, a, b in zip(targets, pred_a, pred_b, strict=True))
    only_b = sum(b == t and a != t for t, a, b in zip(targets, pred_a, pred_b, strict=True))
    return McNemar(only_a, only_b, sign_test(only_a, only_b))


# --- intervals ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Mean ± sample std of n values with a t-interval for the mean (None bounds for n < 2)."""

    n: int
    mean: float
    std: float
    ci_low: float | None
    ci_high: float | None


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary | None:
    if not values:
        return None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Summary(len(values), mean, 0.0, None, None)
    std = statistics.stdev(values)
    half = t_quantile(0.5 + confidence / 2.0, len(values) - 1) * std / math.sqrt(len(values))
    return Summary(len(values), mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Paired:
    """The per-seed differences a − b over the seeds both have: their mean, t-interval and tests."""

    seeds: list[int]
    diffs: list[float]
    mean: float
    std: float
    ci_low: float | None
    ci_high: float | None
    t_p_value: float | None
    positive: int
    negative: int
    sign_p_value: float

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (False when there is no interval)."""
        return self.ci_low is not None and self.ci_high is not None and (self.ci_low > 0 or self.ci_high < 0)


def paired_t_p_value(diffs: Sequence[float]) -> float | None:
    """Two-sided one-sample t-test of mean(diffs) = 0; None for fewer than 2 differences."""
    if len(diffs) < 2:
        return None
    mean, std = statistics.fmean(diffs), statistics.stdev(diffs)
    if std == 0.0:
        return 1.0 if mean == 0.0 else 0.0
    t = mean / (std / math.sqrt(len(diffs)))
    return min(1.0, 2.0 * t_sf(abs(t), len(diffs) - 1))


def paired(a: Mapping[int, float], b: Mapping[int, float], confidence: float = CONFIDENCE) -> Paired | None:
    """Compare a with b seed by seed (seeds only one side has are left out); None without a common seed."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    summary = summarize(diffs, confidence) or Summary(0, 0.0, 0.0, None, None)  # diffs is never empty here
    positive, negative = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    return Paired(
        seeds=seeds,
        diffs=diffs,
        mean=summary.mean,
        std=summary.std,
        ci_low=summary.ci_low,
        ci_high=summary.ci_high,
        t_p_value=paired_t_p_value(diffs),
        positive=positive,
        negative=negative,
        sign_p_value=sign_test(positive, negative),
    )


# --- gap reduction ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapReduction:
    """100 · (gap_ref − gap) / gap_ref over the common seeds, with a percentile bootstrap interval."""

    value: float
    ci_low: float | None
    ci_high: float | None
    resamples: int  # bootstrap resamples used (those with a positive reference gap)


def gap_reduction(
    gaps: Mapping[int, float],
    reference_gaps: Mapping[int, float],
    resamples: int = 2000,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> GapReduction | None:
    """Resample seeds with replacement (keeping each seed's pair together). None without common seeds or
    when the reference's mean gap is not positive (the ratio would be meaningless)."""
    seeds = sorted(set(gaps) & set(reference_gaps))
    if not seeds:
        return None

    def ratio(chosen: Sequence[int]) -> float | None:
        ref = statistics.fmean(reference_gaps[s] for s in chosen)
        if ref <= 0:
            return None
        return 100.0 * (ref - statistics.fmean(gaps[s] for s in chosen)) / ref

    value = ratio(seeds)
    if value is None:
        return None
    if len(seeds) < 2:
        return GapReduction(value, None, None, 0)
    rng = random.Random(seed)
    draws = [ratio(rng.choices(seeds, k=len(seeds))) for _ in range(resamples)]
    kept = sorted(d for d in draws if d is not None)
    alpha = (1.0 - confidence) / 2.0
    return GapReduction(value, _percentile(kept, alpha), _percentile(kept, 1.0 - alpha), len(kept))


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of sorted values."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)

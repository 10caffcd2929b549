"""xclab.stats against reference values: scipy 1.17 results written as literals (scipy.stats.t.ppf, t.sf,
ttest_1samp, t.interval, binomtest) and counts worked out by hand."""

from __future__ import annotations

import pytest

from xclab import stats

# (p, df, scipy.stats.t.ppf(p, df))
T_PPF = [
    (0.975, 1, 12.706204736174694),
    (0.975, 2, 4.302652729749462),
    (0.975, 7, 2.364624251592784),
    (0.975, 29, 2.045229642132703),
    (0.995, 3, 5.840909309733355),
    (0.9, 50, 1.2987136941948096),
    (0.975, 1000, 1.9623390808264083),
]
# (t, df, scipy.stats.t.sf(t, df))
T_SF = [(2.0, 7, 0.042809664281488025), (0.5, 3, 0.3257239824240755), (-1.3, 10, 0.8886170913965777)]


@pytest.mark.parametrize(("p", "df", "expected"), T_PPF)
def test_t_quantile_matches_scipy(p: float, df: int, expected: float) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(expected, rel=1e-10)
    assert stats.t_quantile(1 - p, df) == pytest.approx(-expected, rel=1e-10)


@pytest.mark.parametrize(("t", "df", "expected"), T_SF)
def test_t_survival_matches_scipy(t: float, df: int, expected: float) -> None:
    assert stats.t_sf(t, df) == pytest.approx(expected, rel=1e-10)


def test_t_quantile_rejects_probabilities_outside_0_1() -> None:
    with pytest.raises(ValueError, match="p must lie in"):
        stats.t_quantile(1.0, 3)


def test_summary_gives_mean_sample_std_and_the_t_interval() -> None:
    s = stats.summarize([1.8, 2.4, 0.6, 1.2, 3.0, 2.2, 1.5, 0.9])
    assert s is not None
    assert (s.n, s.mean) == (8, pytest.approx(1.7))
    assert s.std == pytest.approx(0.8088792952509751, rel=1e-12)
    # scipy.stats.t.interval(0.95, 7, loc=mean, scale=sem)
    assert (s.ci_low, s.ci_high) == (
        pytest.approx(1.0237599860970885, rel=1e-10),
        pytest.approx(2.3762400139029114, rel=1e-10),
    )


def test_summary_of_one_value_has_no_interval_and_of_none_is_none() -> None:
    assert stats.summarize([3.0]) == stats.Summary(1, 3.0, 0.0, None, None)
    assert stats.summarize([]) is None


def test_paired_differences_use_only_common_seeds_in_seed_order() -> None:
    a = {0: 91.0, 1: 92.5, 2: 90.0, 3: 93.0, 7: 50.0}
    b = {0: 90.5, 1: 92.8, 2: 89.8, 3: 93.1, 4: 10.0}
    p = stats.paired(a, b)
    assert p is not None
    assert p.seeds == [0, 1, 2, 3]
    assert p.diffs == pytest.approx([0.5, -0.3, 0.2, -0.1])
    assert (p.positive, p.negative) == (2, 2)
    assert p.sign_p_value == 1.0


def test_paired_t_test_and_interval_match_scipy() -> None:
    diffs = [0.5, -0.3, 0.2, -0.1, 0.4]
    p = stats.paired(dict(enumerate(diffs)), dict.fromkeys(range(5), 0.0))
    assert p is not None
    # scipy.stats.ttest_1samp(diffs, 0).pvalue and t.interval(0.95, 4, mean, sem)
    assert p.t_p_value == pytest.approx(0.4044328640922138, rel=1e-10)
    assert (p.ci_low, p.ci_high) == (
        pytest.approx(-0.27739122144721173, rel=1e-9),
        pytest.approx(0.5573912214472118, rel=1e-9),
    )
    assert not p.significant  # the interval covers 0


def test_a_consistent_improvement_is_significant() -> None:
    diffs = [1.8, 2.4, 0.6, 1.2, 3.0, 2.2, 1.5, 0.9]
    p = stats.paired(dict(enumerate(diffs)), dict.fromkeys(range(8), 0.0))
    assert p is not None and p.significant
    assert p.t_p_value == pytest.approx(0.0005732618147227628, rel=1e-9)  # ttest_1samp
    assert (p.positive, p.n, p.sign_p_value) == (8, 8, 0.0078125)  # 2 / 2^8


def test_paired_t_p_value_edge_cases() -> None:
    assert stats.paired_t_p_value([1.0]) is None
    assert stats.paired_t_p_value([0.0, 0.0]) == 1.0
    assert stats.paired_t_p_value([0.5, 0.5]) == 0.0


def test_paired_without_common_seeds_is_none() -> None:
    assert stats.paired({0: 1.0}, {1: 1.0}) is None


@pytest.mark.parametrize(
    ("positive", "negative", "expected"),
    # scipy.stats.binomtest(k, n).pvalue
    [(8, 0, 0.0078125), (2, 8, 0.109375), (3, 3, 1.0), (1, 8, 0.0390625), (0, 0, 1.0), (0, 1, 1.0)],
)
def test_sign_test_is_the_exact_two_sided_binomial(positive: int, negative: int, expected: float) -> None:
    assert stats.sign_test(positive, negative) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_counts_only_discordant_samples() -> None:
    targets = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    a = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9]  # right on 10; wrong on the last two
    b = [0, 1, 2, 0, 0, 0, 0, 0, 0, 9, 0, 9]  # wrong on 3..8 and the last; right on sample 10
    result = stats.mcnemar(targets, a, b)
    assert (result.only_a, result.only_b) == (6, 1)
    assert result.p_value == pytest.approx(0.125)  # binomtest(1, 7): 2 * (1 + 7) / 128


def test_mcnemar_refuses_predictions_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="same samples"):
        stats.mcnemar([0, 1], [0, 1], [0])


def test_gap_reduction_value_and_bootstrap_interval() -> None:
    kd = {0: 4.0, 1: 5.0, 2: 3.0, 3: 4.0}
    xcl = {0: 2.0, 1: 3.0, 2: 2.0, 3: 1.0}
    result = stats.gap_reduction(xcl, kd, resamples=500, seed=1)
    assert result is not None
    assert result.value == pytest.approx(100 * (4.0 - 2.0) / 4.0)
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_low <= result.value <= result.ci_high
    # Every seed's own reduction lies in [33 %, 75 %]; a ratio of means over any resample does too.
    assert 100 / 3 - 1e-9 <= result.ci_low and result.ci_high <= 75 + 1e-9
    assert result.resamples == 500
    assert stats.gap_reduction(xcl, kd, resamples=500, seed=1) == result  # seeded: reproducible


def test_gap_reduction_is_undefined_without_a_positive_reference_gap() -> None:
    assert stats.gap_reduction({0: 1.0, 1: 0.5}, {0: -0.2, 1: 0.1}) is None
    assert stats.gap_reduction({0: 1.0}, {1: 2.0}) is None
    one = stats.gap_reduction({0: 1.0}, {0: 2.0})
    assert one == stats.GapReduction(50.0, None, None, 0)


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 4.0, 8.0]
    # numpy.percentile(values, [2.5, 50, 97.5])
    assert stats._percentile(values, 0.025) == pytest.approx(1.075)
    assert stats._percentile(values, 0.5) == pytest.approx(3.0)
    assert stats._percentile(values, 0.975) == pytest.approx(7.7)

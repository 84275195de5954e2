"""llem.results.stats against values computed by hand."""

from __future__ import annotations

import math

import pytest

from llem.results.stats import _T975_FINE, percentile, skew_extension, stein_half_width, summarize, t975


def test_eight_values():
    # mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; s = sqrt(32/7) = 2.138090
    s = summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert s["n"] == 8 and "n_missing" not in s  # stated only when some are missing
    assert s["mean"] == 5.0 and (s["min"], s["max"]) == (2, 9)
    assert s["std"] == pytest.approx(2.138090, abs=1e-6)
    assert s["cv"] == pytest.approx(2.138090 / 5, abs=1e-6)
    # half width = t(0.975, 7) * s / sqrt(8) = 2.365 * 2.138090 / 2.828427 = 1.787772
    assert s["ci95_low"] == pytest.approx(5 - 1.787772, abs=1e-5)
    # right-skewed (cubed deviations sum to 42, m3 = 5.25, s b1 = m3 / s^2 = 1.148438): the upper side
    # reaches further by s b1 (2 t^2 + 1) / (6n) = 1.148438 x 12.18645 / 48 = 0.291570
    assert s["ci95_high"] == pytest.approx(5 + 1.787772 + 0.291570, abs=1e-5)


def test_missing_values_are_counted_not_zero():
    s = summarize([1.0, None, 3.0])
    assert (s["n"], s["n_missing"], s["mean"]) == (2, 1, 2.0)
    assert s["std"] == pytest.approx(math.sqrt(2))
    # t(0.975, 1) = 12.706; half width = 12.706 * sqrt(2) / sqrt(2)
    assert (s["ci95_low"], s["ci95_high"]) == pytest.approx((2 - 12.706, 2 + 12.706))


def test_one_value_has_no_spread_and_none_has_nothing():
    one = summarize([0.25])
    assert one["mean"] == 0.25 and one["std"] is None and one["cv"] is None and one["ci95_low"] is None
    assert summarize([None, None]) is None  # nothing measured: no statistics, never zeros


def test_five_repeats_like_the_h100_windows():
    # mJ/token of 5 back-to-back windows measured on an H100. Deviations 65, -9, -16, -19, -21;
    # squares sum to 5364; sample s = sqrt(5364/4) = 36.620; CV = 0.25255. (The 22.6% quoted with
    # these figures is the population form, sqrt(5364/5)/145: llem uses the sample form, n-1.)
    s = summarize([210, 136, 129, 126, 124])
    assert s["mean"] == pytest.approx(145.0)
    assert s["std"] == pytest.approx(36.6197, abs=1e-4)
    assert s["cv"] == pytest.approx(0.25255, abs=1e-5)


def test_t_quantiles_and_percentiles():
    assert t975(1) == 12.706 and t975(30) == 2.042
    assert t975(40) == pytest.approx(2.0211, abs=1e-3)
    assert t975(1000) == pytest.approx(1.9623, abs=1e-3)
    with pytest.raises(ValueError):
        t975(0)
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert percentile([], 50) is None


def test_a_two_stage_sample_keeps_steins_interval_where_it_is_wider():
    from llem.results.stats import summarize as summ

    xs = [1.0, 1.02, 0.98, 1.0, 1.0, 1.0]  # the first three's spread fixed n = 6; the rest happen to agree
    plain, staged = summ(xs), summ(xs, first_stage=3)
    stein = 4.303 * 0.02 / 6**0.5
    assert staged["ci95_high"] - staged["mean"] == pytest.approx(stein, rel=1e-4)
    assert stein > plain["ci95_high"] - plain["mean"]
    assert staged["ci95_rule"].startswith("two-stage") and "ci95_rule" not in plain


def test_a_skewed_sample_moves_the_long_side_out_by_johnsons_term():
    # 1, 2, 3, 4, 10: mean 4; deviations -3 -2 -1 0 6; squares sum to 50, s^2 = 12.5, s = 3.535534;
    # cubes sum to 180, m3 = 36; b1 = m3 / s^3 = 0.814587 and s b1 = m3 / s^2 = 2.88.
    # t-interval: 4 +- t(4) s / sqrt 5 = 4 +- 2.776 x 1.581139 = 4 +- 4.389242.
    # Johnson's term on the long (upper) side: s b1 (2 t^2 + 1) / (6 n) = 2.88 x 16.412352 / 30 = 1.575586
    s = summarize([1, 2, 3, 4, 10])
    assert s["skewness"] == pytest.approx(0.814587, abs=1e-6)
    assert s["ci95_low"] == pytest.approx(4 - 4.389242, abs=1e-5)  # the short side stays the t-interval's
    assert s["ci95_high"] == pytest.approx(4 + 4.389242 + 1.575586, abs=1e-5)
    assert "Johnson" in s["ci95_method"]
    mirrored = summarize([-1, -2, -3, -4, -10])  # left skew: the low side moves out instead
    assert mirrored["skewness"] == pytest.approx(-0.814587, abs=1e-6)
    assert (mirrored["ci95_low"], mirrored["ci95_high"]) == (
        pytest.approx(-4 - 4.389242 - 1.575586, abs=1e-5),
        pytest.approx(-4 + 4.389242, abs=1e-5),
    )


def test_a_symmetric_sample_gets_the_plain_t_interval_and_two_values_no_skewness():
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])  # b1 = 0: 3 +- 2.776 x 1.581139 / ... (s = 1.581139)
    assert s["skewness"] == 0.0
    assert (s["ci95_low"], s["ci95_high"]) == (
        pytest.approx(3 - 2.776 * 1.581139 / 5**0.5, abs=1e-5),
        pytest.approx(3 + 2.776 * 1.581139 / 5**0.5, abs=1e-5),
    )
    two = summarize([1.0, 3.0])
    assert two["skewness"] is None and two["ci95_high"] == pytest.approx(2 + 12.706)


def _t_half(xs):
    n = len(xs)
    m = sum(xs) / n
    return t975(n - 1) * math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1) / n)


def test_normal_samples_get_the_t_interval_on_one_side_and_little_more_on_the_other():
    """Stated tolerance: on normal data the short side is the t-interval's exactly; the long side exceeds
    it by at most |b1|max (2t^2 + 1) / (6 t sqrt n) of the t half-width (33% at 3 windows, 47% at 5, 60% at
    10, 66% at 20; b1 is bounded by (n-2)/sqrt(n-1) ((n-1)/n)^1.5), and by a median of 23%, 13%, 8%, 5%
    (a normal sample's noise skew); coverage stays within 94-96% (benchmarks/coverage_sim.py)."""
    import random

    rng = random.Random(3)
    for n, median_max in ((3, 0.25), (5, 0.15), (10, 0.10), (20, 0.06)):
        t = t975(n - 1)
        bound = (n - 2) / math.sqrt(n - 1) * ((n - 1) / n) ** 1.5 * (2 * t * t + 1) / (6 * t * math.sqrt(n))
        excess = []
        for _ in range(1000):
            xs = [rng.gauss(1.0, 0.02) for _ in range(n)]
            s, half = summarize(xs), _t_half(xs)
            up = s["skewness"] > 0
            short = s["mean"] - s["ci95_low"] if up else s["ci95_high"] - s["mean"]
            long_ = s["ci95_high"] - s["mean"] if up else s["mean"] - s["ci95_low"]
            assert short == pytest.approx(half, rel=1e-9)
            excess.append(long_ / half - 1)
            assert 0 <= excess[-1] <= bound + 1e-9
        excess.sort()
        assert 0 < excess[len(excess) // 2] <= median_max, (n, excess[len(excess) // 2])


def test_coverage_on_normal_and_on_skewed_windows():
    """20 000 samples of 5 windows each: normal scatter stays within 94-96%; gamma scatter of skewness 1,
    where the t-interval alone covers 93.3% (binomial sd 0.18 points here), reaches 94% or more."""
    import random

    rng = random.Random(11)
    k = 4.0  # gamma(4): skewness 2 / sqrt(4) = 1, mean 4
    hits = {"normal": 0, "skewed": 0, "skewed_t": 0}
    trials = 20_000
    for _ in range(trials):
        xs = [rng.gauss(0.0, 1.0) for _ in range(5)]
        s = summarize(xs)
        hits["normal"] += s["ci95_low"] <= 0.0 <= s["ci95_high"]
        ys = [rng.gammavariate(k, 1.0) for _ in range(5)]
        s = summarize(ys)
        hits["skewed"] += s["ci95_low"] <= k <= s["ci95_high"]
        hits["skewed_t"] += abs(s["mean"] - k) <= _t_half(ys)
    cov = {key: v / trials for key, v in hits.items()}
    assert 0.94 <= cov["normal"] <= 0.96, cov
    assert cov["skewed"] >= 0.94 > cov["skewed_t"], cov


def test_t_factor_is_the_fine_table_exactly_at_its_own_points():
    """At df = 1.0, 1.1, ..., 3.9 the factor is the tabulated value itself, not an interpolation towards it."""
    for i, value in enumerate(_T975_FINE):
        df = 1 + i / 10
        if df != int(df):  # whole df come from the coarse table (equal to 4 figures)
            assert t975(df) == pytest.approx(value, rel=1e-9), df


def test_stein_half_width_needs_a_complete_first_stage_of_two_or_more():
    # two first-stage values 1 and 3: s0 = sqrt(2), t(1) = 12.706, n = 2 -> 12.706 exactly
    assert stein_half_width([1.0, 3.0], 2) == pytest.approx(12.706, rel=1e-12)
    # the first stage complete but nothing after it, and later values that do not enter s0
    assert stein_half_width([1.0, 3.0, 2.0], 3) == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-12)
    assert stein_half_width([1.0, 3.0, 100.0, -50.0], 2) == pytest.approx(12.706 * math.sqrt(2) / 2, rel=1e-12)
    assert stein_half_width([1.0, 3.0, 2.0], 1) is None  # one first-stage value has no spread
    assert stein_half_width([1.0, 3.0], 3) is None  # the first stage not complete


def test_skew_extension_is_zero_without_skew_spread_or_three_values_and_outward_only():
    assert skew_extension(1.0, 2, 0.5, 4.3) == (0.0, 0.0)  # two values: no skewness to speak of
    assert skew_extension(1.0, 5, 0.0, 2.776) == (0.0, 0.0)
    assert skew_extension(1.0, 5, None, 2.776) == (0.0, 0.0)
    assert skew_extension(0.0, 5, 0.5, 2.776) == (0.0, 0.0)  # no spread
    ext = 1.0 * 0.5 * (2 * 2.776**2 + 1) / (6 * 5)
    assert skew_extension(1.0, 5, 0.5, 2.776) == pytest.approx((0.0, ext))  # the long side is the high one
    assert skew_extension(1.0, 5, -0.5, 2.776) == pytest.approx((ext, 0.0))


def test_a_two_stage_interval_reaches_steins_bound_on_the_side_where_it_is_further():
    """A wide first stage and tight later windows: Stein's half-width (from the first stage's spread) is
    further than the t-interval of all windows on both sides, so both bounds are the mean -+ Stein's."""
    xs = [0.0, 10.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    s = summarize(xs, first_stage=2)
    stein = 12.706 * math.sqrt(50.0) / math.sqrt(8)
    assert s["ci95_low"] == pytest.approx(5.0 - stein, rel=1e-12) and s["ci95_high"] == pytest.approx(5.0 + stein, rel=1e-12)
    assert s["ci95_rule"] == (
        "two-stage (Stein): on each side the further of the (skew-extended) t-interval and t(n0-1) s0 / sqrt(n)"
    )
    # a missing window leaves the first stage incomplete: the plain (skew-extended) t-interval, said so
    s = summarize([0.0, None, 10.0, 5.0], first_stage=2)
    assert s["ci95_rule"] == "t-interval (no complete first stage)"
    half = 4.303 * 5.0 / math.sqrt(3)  # 0, 10, 5: s = 5, t(2) = 4.303
    assert s["mean"] - s["ci95_low"] == pytest.approx(half, rel=1e-9) and s["ci95_high"] - s["mean"] >= half - 1e-9

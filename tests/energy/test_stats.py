"""llem.stats against values computed by hand."""

from __future__ import annotations

import math

import pytest

from llem.stats import percentile, summarize, t975


def test_eight_values():
    # mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; s = sqrt(32/7) = 2.138090
    s = summarize([2, 4, 4, 4, 5, 5, 7, 9])
    assert s["n"] == 8 and "n_missing" not in s  # stated only when some are missing
    assert s["mean"] == 5.0 and (s["min"], s["max"]) == (2, 9)
    assert s["std"] == pytest.approx(2.138090, abs=1e-6)
    assert s["cv"] == pytest.approx(2.138090 / 5, abs=1e-6)
    # half width = t(0.975, 7) * s / sqrt(8) = 2.365 * 2.138090 / 2.828427 = 1.787772
    assert s["ci95_low"] == pytest.approx(5 - 1.787772, abs=1e-5)
    assert s["ci95_high"] == pytest.approx(5 + 1.787772, abs=1e-5)


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
    from llem.stats import summarize as summ
    xs = [1.0, 1.02, 0.98, 1.0, 1.0, 1.0]  # the first three's spread fixed n = 6; the rest happen to agree
    plain, staged = summ(xs), summ(xs, first_stage=3)
    stein = 4.303 * 0.02 / 6 ** 0.5
    assert staged["ci95_high"] - staged["mean"] == pytest.approx(stein, rel=1e-4)
    assert stein > plain["ci95_high"] - plain["mean"]
    assert staged["ci95_rule"].startswith("two-stage") and "ci95_rule" not in plain

"""The uncertainty budget by hand: components, combination, and the flags it raises."""

from __future__ import annotations

import math

import pytest

from llem.config.spec import EnergySpec
from llem.results.stats import t975, welch_satterthwaite
from llem.results.uncertainty import budget, budget_flags, rectangular_sum_half_width

# t_0.975 for fractional df, from the definition (scipy's inverse CDF: independent of llem's table)
_scipy_stats = pytest.importorskip("scipy.stats")


def t_ppf(df):
    return float(_scipy_stats.t.ppf(0.975, df))


def w(i, energy_j, tokens=100, seconds=2.0, base_w=100.0, low=-1.0, high=0.5):
    dyn = energy_j - base_w * seconds
    return {
        "index": i,
        "energy_j": energy_j,
        "output_tokens": tokens,
        "duration_s": seconds,
        "energy_j_per_output_token": energy_j / tokens,
        "dynamic_energy_j": dyn,
        "dynamic_energy_j_per_output_token": dyn / tokens,
        "energy": {"residual_j": {"low": low, "high": high, "expected": (low + high) / 2}},
    }


def test_components_and_combination():
    windows = [w(0, 1000.0), w(1, 1010.0), w(2, 990.0)]
    baseline = {"power_w": 100.0, "power_w_half_width": 0.2, "drift_w": 1.0}
    b = budget(windows, baseline)
    tot = b["energy_j_per_output_token"]
    edge = tot["components"]["edge_residual"]
    assert (edge["low"], edge["high"]) == (pytest.approx(-0.01), pytest.approx(0.005))
    assert edge["expected_bias"] == pytest.approx(-0.0025)
    assert edge["standard"] == pytest.approx(0.015 / (2 * math.sqrt(3)))
    rep = tot["components"]["repeats"]
    assert rep["standard"] == pytest.approx(0.1 / math.sqrt(3))  # s = 10 J / 100 tokens, n = 3
    assert "baseline" not in tot["components"]
    u = math.sqrt(edge["standard"] ** 2 + rep["standard"] ** 2)
    # Welch-Satterthwaite: only the repeats (2 dof) have finite freedom; k = t_0.975(nu_eff), not 2
    nu = u**4 / (rep["standard"] ** 4 / 2)
    assert tot["effective_dof"] == pytest.approx(nu) and 2 < nu < 3
    k = tot["coverage_factor"]
    # ... but never below the repeats' own t-interval and the edge's own 95% half-width (0.95 of its half-range
    # 0.0075) in quadrature (Welch-Satterthwaite is liberal at 2 dof)
    floor = math.hypot(t_ppf(2) * rep["standard"], 0.95 * 0.0075) / u
    assert k == pytest.approx(max(t_ppf(nu), floor), rel=2e-3) and 3.18 < k < 4.31
    assert tot["combined_standard"] == pytest.approx(u) and tot["expanded"] == pytest.approx(k * u)
    assert tot["relative_expanded"] == pytest.approx(k * u / 10.0)
    # the interval is about the mean less the expected edge bias, and says what it leaves out
    assert tot["expected_bias"] == pytest.approx(-0.0025) and tot["corrected_mean"] == pytest.approx(10.0025)
    assert tot["interval"] == pytest.approx([10.0025 - k * u, 10.0025 + k * u])
    assert any(e.startswith("sensor calibration") for e in tot["excludes"])
    dyn = b["dynamic_energy_j_per_output_token"]
    base = dyn["components"]["baseline"]
    # half-width 0.2 W + half the 1 W drift, over 2 s, per 100 tokens; rectangular
    assert base["half_width"] == pytest.approx(0.7 * 2.0 / 100) and base["standard"] == pytest.approx(0.014 / math.sqrt(3))
    assert dyn["not_evaluated"] == []


def test_what_cannot_be_evaluated_is_named():
    windows = [w(0, 1000.0)]
    windows[0]["energy"]["residual_j"] = None
    b = budget(windows, {"power_w": None})
    assert b["energy_j_per_output_token"]["not_evaluated"] == ["edge_residual", "repeats"]
    assert b["dynamic_energy_j_per_output_token"] is not None or windows[0]["dynamic_energy_j_per_output_token"] is None


def test_a_part_that_came_out_non_finite_is_named_not_a_crash():
    # a meter's degenerate edge (a NaN residual) crashed the whole job in t975 ("df must be >= 1") in CI
    windows = [w(0, 1000.0, low=float("nan")), w(1, 1010.0), w(2, 990.0)]
    tot = budget(windows, {"power_w": 100.0, "power_w_half_width": float("nan")})["energy_j_per_output_token"]
    assert tot["not_evaluated"] == ["edge_residual"] and tot["effective_dof"] == pytest.approx(2)
    dyn = budget(windows, {"power_w": 100.0, "power_w_half_width": float("nan")})["dynamic_energy_j_per_output_token"]
    assert dyn["not_evaluated"] == ["baseline", "edge_residual"] and math.isfinite(dyn["expanded"])


def test_dynamic_on_its_own_bound_and_negative_dynamic_are_flagged():
    # dynamic energy ~3 J of 203 J: the total is well resolved (also at k = t(2 dof) ~ 4), the dynamic part is not
    windows = [w(0, 204.0), w(1, 206.0), w(2, 199.0)]
    b = budget(windows, {"power_w": 100.0, "power_w_half_width": 0.5})
    flags = budget_flags(b, windows, EnergySpec())
    assert b["energy_j_per_output_token"]["relative_expanded"] < 0.1
    assert any(f.startswith("dynamic_uncertain") for f in flags)
    assert any(f.startswith("negative_dynamic_energy: window(s) [2]") for f in flags)


def test_a_resolved_result_is_not_flagged():
    windows = [w(0, 1000.0, low=-0.1, high=0.1), w(1, 1002.0, low=-0.1, high=0.1)]
    b = budget(windows, {"power_w": 100.0, "power_w_half_width": 0.05})
    assert budget_flags(b, windows, EnergySpec()) == []


def test_without_repeats_the_factor_is_the_normal_one_and_says_what_is_missing():
    windows = [w(0, 1000.0)]
    tot = budget(windows, {"power_w": None})["energy_j_per_output_token"]
    assert tot["effective_dof"] is None and tot["coverage_factor"] == pytest.approx(1.96, abs=1e-3)
    assert tot["not_evaluated"] == ["repeats"]


def test_t_factor_for_fractional_freedom_and_welch_satterthwaite():
    import numpy as np

    for df in np.concatenate([np.linspace(1, 40, 400), [2.05, 3.95, 4.0, 29.9, 30.0, 1e6]]):
        assert t975(df) == pytest.approx(t_ppf(df), rel=1e-3), df
    assert t975(math.inf) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError):
        t975(0.5)
    # two Type-A parts of equal size and 2 dof each: nu_eff = 4; a certain Type-B part adds none
    assert welch_satterthwaite([(1.0, 2), (1.0, 2)]) == pytest.approx(4.0)
    assert welch_satterthwaite([(1.0, 2), (1.0, math.inf)]) == pytest.approx(8.0)
    assert welch_satterthwaite([(1.0, math.inf)]) == math.inf


def test_a_large_type_b_part_lowers_the_factor_by_welch_satterthwaite():
    # edge range +-5 J per 100 tokens against a 1 J/100-token scatter: nu_eff >> 2, k near 2
    windows = [w(0, 1000.0, low=-5.0, high=5.0), w(1, 1001.0, low=-5.0, high=5.0), w(2, 999.0, low=-5.0, high=5.0)]
    tot = budget(windows, {})["energy_j_per_output_token"]
    assert tot["effective_dof"] > 100 and tot["coverage_factor"] == pytest.approx(t_ppf(tot["effective_dof"]), rel=2e-3)


def test_the_95_percent_half_width_of_rectangular_parts():
    assert rectangular_sum_half_width([]) == 0.0
    assert rectangular_sum_half_width([2.0]) == pytest.approx(1.9)  # 95% of a rectangular's half-range
    # two equal half-widths 1: a triangle on [-2, 2], whose tails beyond x hold (2 - x)^2 / 4: x = 2 - sqrt(0.2)
    assert rectangular_sum_half_width([1.0, 1.0]) == pytest.approx(2 - math.sqrt(0.2))
    # 1 and 0.5: tails beyond x in [0.5, 1.5] hold (1.5 - x)^2 / 2: x = 1.5 - sqrt(0.1)
    assert rectangular_sum_half_width([0.5, 1.0]) == pytest.approx(1.5 - math.sqrt(0.1))
    # 1 and 0.01: the 5% lies in the flat top (|x| <= 0.99), where the tails hold 1 - x: x = 0.95
    assert rectangular_sum_half_width([1.0, 0.01]) == pytest.approx(0.95)
    # three or more: near normal, 1.96 times the combined standard sqrt(sum a^2 / 3)
    assert rectangular_sum_half_width([1.0, 1.0, 1.0]) == pytest.approx(1.959964)


def test_skewed_windows_stretch_the_budget_on_their_long_side():
    # J/token 10.0, 10.1, 10.2, 10.3, 11.0: mean 10.32; deviations -.32 -.22 -.12 -.02 .68, squares sum .628
    # (s^2 = .157), cubes sum .26928 (m3 = .053856): b1 = m3 / s^3 = .348 > 0, s b1 = m3 / s^2 = .343032
    windows = [w(i, e) for i, e in enumerate((1000.0, 1010.0, 1020.0, 1030.0, 1100.0))]
    tot = budget(windows, {})["energy_j_per_output_token"]
    assert tot["skewness"] == pytest.approx(0.053856 / 0.157**1.5, rel=1e-6)
    k, u_c, centre = tot["coverage_factor"], tot["combined_standard"], tot["corrected_mean"]
    # the statistics' extension s b1 (2 t(4)^2 + 1) / (6 n), times the repeats' share of u_c^2
    share = (0.157 / 5) / u_c**2
    ext = 0.343032 * (2 * 2.776**2 + 1) / 30 * share
    assert 0.99 < share < 1
    assert tot["skew_extension"]["low"] == 0.0 and tot["skew_extension"]["high"] == pytest.approx(ext, rel=1e-5)
    assert tot["interval"] == [pytest.approx(centre - k * u_c), pytest.approx(centre + k * u_c + ext, rel=1e-6)]
    assert tot["expanded"] == pytest.approx(k * u_c)  # the symmetric part, as before
    # mirrored scatter: the low side moves out
    mirrored = budget([w(i, 2000.0 - e) for i, e in enumerate((1000.0, 1010.0, 1020.0, 1030.0, 1100.0))], {})
    m = mirrored["energy_j_per_output_token"]
    assert m["skewness"] == pytest.approx(-tot["skewness"]) and m["skew_extension"]["high"] == 0.0
    assert m["skew_extension"]["low"] == pytest.approx(ext, rel=1e-5)


def test_after_two_stages_the_skew_reaches_only_beyond_steins_interval():
    # first stage 9, 10, 11 (s0 = 1: Stein's 4.303 / sqrt 7 = 1.626), then four close values; left-skewed
    # (b1 = -0.229), whose extended t-interval (t(6) 0.6203 / sqrt 7 = 0.574, plus 0.043) stays within Stein's
    windows = [w(i, e) for i, e in enumerate((900.0, 1000.0, 1100.0, 1000.0, 1000.0, 1000.0, 1060.0))]
    plain = budget(windows, {})["energy_j_per_output_token"]
    staged = budget(windows, {}, first_stage=3)["energy_j_per_output_token"]
    assert plain["skewness"] == pytest.approx(-0.228678, abs=1e-6) == staged["skewness"]
    assert plain["skew_extension"]["low"] > 0 and plain["skew_extension"]["high"] == 0.0
    assert staged["components"]["repeats"]["rule"].startswith("two-stage")
    assert staged["skew_extension"] == {"low": 0.0, "high": 0.0}
    k, u_c, centre = staged["coverage_factor"], staged["combined_standard"], staged["corrected_mean"]
    assert staged["interval"] == [pytest.approx(centre - k * u_c), pytest.approx(centre + k * u_c)]

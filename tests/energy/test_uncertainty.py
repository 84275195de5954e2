"""The uncertainty budget by hand: components, combination, and the flags it raises."""

from __future__ import annotations

import math

import pytest

from llem.results.uncertainty import budget, budget_flags
from llem.spec import EnergySpec


def w(i, energy_j, tokens=100, seconds=2.0, base_w=100.0, low=-1.0, high=0.5):
    dyn = energy_j - base_w * seconds
    return {"index": i, "energy_j": energy_j, "output_tokens": tokens, "duration_s": seconds,
            "energy_j_per_output_token": energy_j / tokens, "dynamic_energy_j": dyn,
            "dynamic_energy_j_per_output_token": dyn / tokens,
            "energy": {"residual_j": {"low": low, "high": high, "expected": (low + high) / 2}}}


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
    assert tot["combined_standard"] == pytest.approx(u) and tot["expanded"] == pytest.approx(2 * u)
    assert tot["relative_expanded"] == pytest.approx(2 * u / 10.0)
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


def test_dynamic_on_its_own_bound_and_negative_dynamic_are_flagged():
    # dynamic energy ~10 J of 210 J: the total is well resolved, the dynamic part is not
    windows = [w(0, 210.0), w(1, 215.0), w(2, 195.0)]
    b = budget(windows, {"power_w": 100.0, "power_w_half_width": 0.5})
    flags = budget_flags(b, windows, EnergySpec())
    assert b["energy_j_per_output_token"]["relative_expanded"] < 0.1
    assert any(f.startswith("dynamic_uncertain") for f in flags)
    assert any(f.startswith("negative_dynamic_energy: window(s) [2]") for f in flags)


def test_a_resolved_result_is_not_flagged():
    windows = [w(0, 1000.0, low=-0.1, high=0.1), w(1, 1002.0, low=-0.1, high=0.1)]
    b = budget(windows, {"power_w": 100.0, "power_w_half_width": 0.05})
    assert budget_flags(b, windows, EnergySpec()) == []

"""Repeatability by design (llem/harness/repeat.py): windows long enough, windows added until the interval
is tight, cooldowns that wait for the idle baseline, drift flagged."""

from __future__ import annotations

import json

import pytest

from conftest import run_llem, flags_beside_host_load
from llem.energy.base import Measurement
from llem.harness.repeat import cool_down, drift, flags, keep_going, outcome, planned_windows, window_target_s
from llem.config.spec import RunSpec


def _records(values, metric="energy_j_per_output_token"):
    return [{metric: v} for v in values]


def test_windows_are_added_until_the_interval_is_tight():
    run = RunSpec(repeats=3, target_ci_pct=1.0, max_repeats=8)
    assert keep_going(run, _records([1.0, 1.0]), "energy_j_per_output_token")  # below run.repeats
    # 1.00, 1.10, 0.90: mean 1, std 0.1, t(2)=4.303 -> +-24.8%: not tight yet
    assert keep_going(run, _records([1.0, 1.1, 0.9]), "energy_j_per_output_token")
    # five values within +-0.2%: the 95% half-width is 0.25% of the mean
    tight = [1.0, 1.002, 0.998, 1.001, 0.999]
    assert not keep_going(run, _records(tight), "energy_j_per_output_token")
    rep = outcome(run, _records(tight), "energy_j_per_output_token")
    # two stages: the interval is the wider of the t-interval (t(4) s / sqrt 5 = 0.196%) and Stein's from the
    # first stage's spread (t(2) s0 / sqrt 5, s0 = 0.002: 0.385%)
    assert rep["met"] is True and rep["ci95_half_pct"] == pytest.approx(100 * 4.303 * (0.002 / 5**0.5), rel=1e-3)
    assert rep["first_stage_windows"] == 3 and rep["planned_windows"] == 3
    assert flags(rep) == []


def test_a_skewed_interval_is_judged_by_its_longer_side():
    run = RunSpec(repeats=5, target_ci_pct=150.0, max_repeats=5)
    # 1, 2, 3, 4, 10 (tests/energy/test_stats.py): 4 - 4.389242 .. 4 + 4.389242 + 1.575586; the upper
    # side, 149.12% of the mean, is the one that counts (the lower is 109.7%)
    rep = outcome(run, _records([1.0, 2.0, 3.0, 4.0, 10.0]), "energy_j_per_output_token")
    assert rep["ci95_half_pct"] == pytest.approx(100 * (4.389242 + 1.575586) / 4, rel=1e-5)
    assert rep["met"] is True
    assert (
        outcome(
            RunSpec(repeats=5, target_ci_pct=149.0, max_repeats=5),
            _records([1.0, 2.0, 3.0, 4.0, 10.0]),
            "energy_j_per_output_token",
        )["met"]
        is False
    )


def test_the_first_stage_alone_fixes_how_many_windows_are_measured():
    """Stein's two stages: a later window that happens to tighten the interval does not stop the run
    early (optional stopping covered 90-92%, benchmarks/coverage_sim.py), and one that widens it does
    not prolong it."""
    run = RunSpec(repeats=3, target_ci_pct=2.0, max_repeats=20)
    first = [1.0, 1.02, 0.98]  # CV 2%: (4.303 * 2 / 2)^2 = 18.5 -> 19 windows
    lucky = first + [1.0] * 5  # 8 windows whose plain 95% interval is +-1.1%, within the 2% target
    assert keep_going(run, _records(lucky), "energy_j_per_output_token")
    rep = outcome(run, _records(first + [1.0] * 16), "energy_j_per_output_token")
    assert rep["planned_windows"] == 19 and rep["windows"] == 19
    assert not keep_going(run, _records(first + [1.0, 2.0] * 8), "energy_j_per_output_token")


def test_the_cap_ends_it_and_says_so():
    run = RunSpec(repeats=2, target_ci_pct=1.0, max_repeats=4)
    noisy = _records([1.0, 1.3, 0.8, 1.2])
    assert not keep_going(run, noisy, "energy_j_per_output_token")
    rep = outcome(run, noisy, "energy_j_per_output_token")
    assert rep["met"] is False and rep["reason"].startswith("run.max_repeats=4 reached with a ±")
    assert flags(rep)[0].startswith("target_ci_not_met: run.max_repeats=4 reached")


def test_a_plan_below_the_cap_that_misses_says_so_not_that_the_cap_was_reached():
    """Stage one's two windows plan 3 of at most 5; a third window far off widens the interval past the
    target, and the run stops at its plan (the later windows never extend it): the reason names the plan
    (CI on 2026-12-07 saw such a run and the old reason claimed the cap)."""
    run = RunSpec(repeats=2, target_ci_pct=50.0, max_repeats=5)
    records = _records([1.0, 1.1, 3.0])  # CV 6.7%: (12.706 * 6.7 / 50)^2 = 2.9 -> 3 windows
    assert planned_windows(run, records, "energy_j_per_output_token") == 3
    assert not keep_going(run, records, "energy_j_per_output_token")
    rep = outcome(run, records, "energy_j_per_output_token")
    assert rep["met"] is False and rep["ci95_half_pct"] > 50
    assert rep["reason"].startswith("stage one planned 3 windows (of run.max_repeats=5) from its first 2"), rep["reason"]
    assert flags(rep)[0].startswith("target_ci_not_met: stage one planned 3 windows")


def test_the_first_measured_objective_is_the_one_tightened():
    run = RunSpec(repeats=2, target_ci_pct=10.0, max_repeats=4)
    # 100 and 101 tok/s: +-6.35% (t(1) = 12.706), within 10%
    no_energy = [{"energy_j_per_output_token": None, "output_tokens_per_s": v} for v in (100.0, 101.0)]
    rep = outcome(run, no_energy, "energy_j_per_output_token|output_tokens_per_s")
    assert rep["metric"] == "output_tokens_per_s" and rep["met"] is True
    energy_only = outcome(run, no_energy, "energy_j_per_output_token")
    assert energy_only["met"] is None and "not measured in every window" in energy_only["reason"]
    assert flags(energy_only)[0].startswith("target_ci_not_applied")


def test_drift_is_a_significant_trend_beyond_the_interval():
    rising = [1.00, 1.02, 1.04, 1.06, 1.08, 1.10]
    d = drift(rising)
    assert d["significant"] and d["slope_per_window"] == pytest.approx(0.02)
    assert d["relative_change"] == pytest.approx(0.10 / 1.05)
    rep = outcome(RunSpec(repeats=6), _records(rising), "energy_j_per_output_token")
    assert any(f.startswith("drift: energy_j_per_output_token moved +9.5%") for f in flags(rep))
    flat = [1.00, 1.03, 0.98, 1.01, 0.99, 1.02]
    assert not drift(flat)["significant"]
    assert flags(outcome(RunSpec(repeats=6), _records(flat), "energy_j_per_output_token")) == []


class _Meter:
    """Power readings in sequence, one per cooldown slice."""

    measures = True
    update_period_s = 0.1

    def __init__(self, powers):
        self.powers = list(powers)

    def begin(self, window):
        pass

    def end(self, window):
        p = self.powers.pop(0)
        return Measurement(meter="fake", duration_s=1.0, energy_j={"gpu0": p}, total_j=p)


def test_cooldown_waits_for_the_idle_baseline(monkeypatch):
    monkeypatch.setattr("llem.harness.repeat.time.sleep", lambda s: None)
    run = RunSpec(cooldown="baseline", cooldown_max_s=30)
    cooled = cool_down(_Meter([400.0, 250.0, 128.0]), 120.0, run, lambda m: None)
    assert cooled["reached"] is True and cooled["power_w"] == 128.0 and cooled["limit_w"] == pytest.approx(131.0)
    assert cool_down(_Meter([400.0]), None, run, lambda m: None) is None  # no baseline: nothing to wait for
    assert cool_down(_Meter([400.0]), 120.0, RunSpec(cooldown_mode="fixed"), lambda m: None) is None


def test_window_length_defaults_to_fifty_counter_updates():
    assert window_target_s(RunSpec(), _Meter([])) == pytest.approx(5.0)
    assert window_target_s(RunSpec(min_window_s=2.0), _Meter([])) == 2.0

    class Cpu:
        measures = False

    assert window_target_s(RunSpec(), Cpu()) is None  # no meter: one pass per window, as before


def test_a_window_repeats_passes_until_it_is_long_enough(tmp_path):
    proc = run_llem(
        [
            "model=tiny",
            "hardware=cpu",
            "tracking=none",
            "workload.num_prompts=2",
            "workload.batch_size=2",
            "workload.output_tokens=4",
            "run.repeats=2",
            "run.min_window_s=1.5",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout
    [path] = tmp_path.glob("outputs/runs/*/result.json")
    result = json.loads(path.read_text())
    for w in result["windows"]:
        assert w["duration_s"] >= 1.5 and w["passes"] >= 1
        assert w["requests"] == 2 * w["passes"] and w["output_tokens"] == 8 * w["passes"]  # every pass counts
        assert len(w["batch_latency_s"]) == w["passes"]
    assert result["repeatability"]["passes_per_window"] == [w["passes"] for w in result["windows"]]
    assert flags_beside_host_load(result) == [], result["validity"]


def test_target_interval_end_to_end(tmp_path):
    proc = run_llem(
        [
            "model=tiny",
            "hardware=cpu",
            "tracking=none",
            "workload.num_prompts=2",
            "workload.batch_size=2",
            "workload.output_tokens=4",
            "run.repeats=2",
            "run.target_ci_pct=50",
            "run.max_repeats=5",
            "run.objective=energy_j_per_output_token|output_tokens_per_s",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout
    [path] = tmp_path.glob("outputs/runs/*/result.json")
    rep = json.loads(path.read_text())["repeatability"]
    assert rep["metric"] == "output_tokens_per_s" and 2 <= rep["windows"] <= 5
    # exactly the windows stage one planned from the first two (Stein's rule: never decided by the later ones)
    assert rep["windows"] == rep["planned_windows"] and rep["first_stage_windows"] == 2
    if rep["met"]:
        assert rep["ci95_half_pct"] <= 50
    elif rep["windows"] == 5:
        assert rep["ci95_half_pct"] > 50 and rep["reason"].startswith("run.max_repeats=5 reached with a ±"), rep
    else:  # the plan stopped below the cap: the later windows spread more than the first two
        assert rep["ci95_half_pct"] > 50 and rep["reason"].startswith(f"stage one planned {rep['windows']} windows"), rep
    assert "95% CI" in proc.stdout or rep["windows"] == 2  # the running interval is shown from the third window


def test_correlated_windows_are_flagged_with_how_much_wider_the_interval_would_be():
    """The 95% interval assumes independent windows. A slow wander (each window near the one before)
    gives a lag-1 autocorrelation the flag names, with the AR(1) factor; alternating or independent-looking
    windows, and the default 3 windows, give none."""
    from llem.harness.repeat import autocorrelation

    wander = [1.00, 1.01, 1.02, 1.02, 1.01, 1.00, 0.99, 0.98, 0.98, 0.99, 1.00, 1.01]
    a = autocorrelation(wander)
    assert a["lag1"] > a["threshold"] and a["significant"]
    assert a["interval_factor"] == pytest.approx(((1 + a["lag1"]) / (1 - a["lag1"])) ** 0.5)
    assert a["effective_windows"] < len(wander)
    rep = outcome(RunSpec(repeats=12), _records(wander), "energy_j_per_output_token")
    [flag] = [f for f in flags(rep) if f.startswith("windows_correlated")]
    assert f"{a['lag1']:+.2f} over 12 windows" in flag and f"x{a['interval_factor']:.2f} wider" in flag
    alternating = [1.00, 1.02] * 6
    assert autocorrelation(alternating)["lag1"] < 0 and not autocorrelation(alternating)["significant"]
    assert not any(
        f.startswith("windows_correlated")
        for f in flags(outcome(RunSpec(repeats=12), _records(alternating), "energy_j_per_output_token"))
    )
    assert autocorrelation([1.0, 1.1, 1.2]) is None  # too few windows to judge
    assert autocorrelation([1.0] * 10) is None  # no spread

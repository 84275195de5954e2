"""Bracketed window edges (llem/energy/bracket.py): the window's joules from the mean power between
the counter updates around its edges, on a replayed NVML counter stepping every 100 ms."""

from __future__ import annotations

import time

import pytest
from replay_traces import POWER_W, constant_power_trace

from llem.energy.base import Measurement
from llem.energy.bracket import Bracket, bracketed, can_bracket


def _measurement(energy_j, begin, end, corr_b=0.0, corr_e=0.0, duration=1.0):
    al = {"begin": {"aligned": True, "t_s": begin, "half_width_s": 0.001},
          "end": {"aligned": True, "t_s": end, "half_width_s": 0.002},
          "begin_correction_j": corr_b, "end_correction_j": corr_e}
    return Measurement(meter="nvml", duration_s=duration, energy_j={"gpu0": energy_j}, total_j=energy_j,
                       update_period_s=0.1, alignment={"gpu0": al})


def test_joules_are_the_power_between_the_updates_times_the_window():
    # the counter moved 330 J between updates at 10.05 s and 11.15 s (300 W); the idle corrections
    # the aligned meter applied (-6 J, -9 J) are undone, then scaled to the window 10.00-11.10 s
    m = _measurement(330.0 - 6.0 - 9.0, 10.05, 11.15, corr_b=-6.0, corr_e=-9.0)
    b = bracketed(m, 10.0, 11.1, 1000.0)
    assert b.energy_j["gpu0"] == pytest.approx(300.0 * 1.1) and b.total_j == b.energy_j["gpu0"]
    assert b.duration_s == pytest.approx(1.1) and b.interval_monotonic_s == [10.0, 11.1]
    assert b.interval_unix_s == pytest.approx([1000.0, 1001.1])
    assert b.alignment["gpu0"]["method"] == "bracketed" and b.alignment["gpu0"]["mean_power_w"] == pytest.approx(300.0)
    assert b.residual_j["high"] == pytest.approx(300.0 * 0.003) and b.residual_j["low"] == pytest.approx(-0.9)


def test_an_edge_without_an_update_scales_the_meters_window_and_has_no_bound():
    m = _measurement(300.0, 10.05, 11.15)
    m.alignment["gpu0"]["end"]["aligned"] = False
    b = bracketed(m, 10.0, 10.5, 1000.0)
    assert b.energy_j["gpu0"] == pytest.approx(150.0) and b.residual_j is None
    assert b.alignment["gpu0"]["method"].startswith("rescaled")
    none = _measurement(None, 10.05, 11.15)
    none.total_j = None
    assert bracketed(none, 10.0, 10.5, 1000.0).total_j is None


def test_on_the_replayed_counter_the_bracket_finds_the_truth_without_waiting(tmp_path, monkeypatch):
    """NvmlMeter on a replayed 300 W counter (100 ms steps): open() and close() return at once (they
    run in an event loop), and the joules are 300 W x the window within the updates' timing."""
    from llem.testing.fake_nvml import fake_from_env
    from llem.energy.nvml import NvmlMeter

    trace = tmp_path / "t.csv"
    constant_power_trace(trace, counter_step_s=0.1)
    monkeypatch.setenv("LLEM_FAKE_NVML_TRACE", str(trace))
    monkeypatch.setenv("LLEM_FAKE_NVML_EPOCH", repr(time.monotonic()))
    meter = NvmlMeter([0], nvml=fake_from_env(dict(__import__("os").environ)))
    assert can_bracket(meter)
    br = Bracket(meter, "steady")
    t0 = time.monotonic()
    br.open()
    assert time.monotonic() - t0 < 0.02  # did not wait for the counter
    time.sleep(0.73)
    t1 = time.monotonic()
    br.close()
    assert time.monotonic() - t1 < 0.02
    m = br.result()
    assert m.duration_s == pytest.approx(0.73, abs=0.02)
    assert m.energy_j["gpu0"] == pytest.approx(POWER_W * m.duration_s, abs=1.5)  # vs up to 30 J per edge read at once
    al = m.alignment["gpu0"]
    assert al["begin_update_s"] >= al["open_s"] and al["end_update_s"] >= al["close_s"]
    meter.close()

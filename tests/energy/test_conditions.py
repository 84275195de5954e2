"""Per-window conditions sliced from the sampler's series, and the flags they raise."""

from __future__ import annotations

import csv

import pytest

from llem.config.spec import EnergySpec
from llem.energy.conditions import instants, read_timeseries, split_summary, window_conditions
from llem.energy.sampler import COLUMNS
from llem.energy.window_checks import annotate_conditions


def row(t, device="gpu0", power=300.0, temp=50, sm=1980, mem=2619, throttle=0, limit=700.0):
    return {
        "t_unix_s": t,
        "device": device,
        "power_w": power,
        "temperature_c": temp,
        "sm_clock_mhz": sm,
        "mem_clock_mhz": mem,
        "throttle_reasons": throttle,
        "power_limit_w": limit,
        "memory_used_mib": 1000.0,
    }


def test_window_slice_by_hand():
    # 0.1 s samples; the window [1.0, 2.0] holds 400 W for its first half and 600 W (power-capped,
    # SM clock down) for its second; outside it the GPU idles at 100 W.
    rows = []
    for i in range(31):
        t = i / 10
        if 1.0 <= t < 1.5:
            rows.append(row(t, power=400.0, temp=55))
        elif 1.5 <= t < 2.0:
            rows.append(row(t, power=600.0, temp=60, sm=1500, throttle=0x4 | 0x1))
        else:
            rows.append(row(t, power=100.0, temp=45))
    series = instants(rows)
    c = window_conditions(series, 1.0, 2.0, counter_gpu_j=500.0)
    assert c["samples"] == 11
    assert c["instant_power_energy_j"] == pytest.approx(0.5 * 400 + 0.5 * 600)
    assert c["instant_to_counter_ratio"] == pytest.approx(1.0)
    assert c["mean_power_w"] == pytest.approx(500.0) and c["peak_power_w"] == 600.0
    assert c["sm_clock_mhz_min"] == 1500 and c["mem_clock_mhz_mean"] == 2619
    assert (c["temperature_c_start"], c["temperature_c_end"]) == (55, 45)  # the sample at t=2.0 is idle again
    assert c["throttled_s"] == {"sw_power_cap": pytest.approx(0.5)} and c["throttle_unknown_s"] == 0
    assert c["power_limit_w"] == {"gpu0": 700.0}
    split = split_summary(series, [(1.0, 2.0)])
    assert split["windows"]["seconds"] == pytest.approx(1.0, abs=0.11)
    assert split["windows"]["throttled_s"] == pytest.approx(0.5, abs=0.11)
    assert split["outside_windows"]["mean_power_w"] == pytest.approx(100.0)
    assert split["outside_windows"]["throttled_s"] == 0


def test_two_gpus_sum_power_and_a_missing_one_leaves_the_instant_out():
    rows = [row(t / 10, "gpu0", 100.0) for t in range(11)] + [row(t / 10, "gpu1", 200.0) for t in range(11)]
    rows[-1]["power_w"] = None
    c = window_conditions(instants(rows), 0.0, 1.0, counter_gpu_j=300.0)
    assert c["peak_power_w"] == 300.0 and c["instant_to_counter_ratio"] == pytest.approx(1.0)


def write_series(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})


def window(i, start, seconds, joules):
    return {
        "index": i,
        "started_unix_s": start,
        "duration_s": seconds,
        "energy": {"interval_unix_s": [start, start + seconds], "energy_j": {"gpu0": joules}},
    }


def test_flags_throttle_disagreement_drift_and_unknown(tmp_path):
    rows = []
    for i in range(0, 121):
        t = i / 10
        if t < 4:  # window 0: capped for 2 s, counter agrees; 40 C at start
            rows.append(row(t, power=500.0, temp=40, throttle=0x4 if t >= 2 else 0))
        elif t < 8:  # window 1: the counter says 2x what instant power integrates to
            rows.append(row(t, power=250.0, temp=45))
        else:  # window 2: reasons unreadable; 52 C
            rows.append(row(t, power=500.0, temp=52, throttle=None))
    write_series(tmp_path / "timeseries.csv", rows)
    windows = [window(0, 0.0, 3.95, 1975.0), window(1, 4.0, 3.95, 1975.0), window(2, 8.0, 3.95, 1975.0)]
    ts = {"file": "timeseries.csv"}
    flags = annotate_conditions(windows, ts, tmp_path, EnergySpec())
    assert all("conditions" in w for w in windows)
    [throttled] = [f for f in flags if f.startswith("throttled")]
    assert "window 0: sw_power_cap for 2.0 s" in throttled
    [disagree] = [f for f in flags if f.startswith("power_disagreement")]
    assert "window 1" in disagree and "0.50x" in disagree
    assert any(f.startswith("throttle_unknown: window 2") for f in flags)
    [drift] = [f for f in flags if f.startswith("temperature_drift")]
    assert "40 C" in drift and "52 C" in drift
    assert ts["windows"]["seconds"] == pytest.approx(11.85, abs=0.35)
    assert read_timeseries(tmp_path / "timeseries.csv")[0]["throttle_reasons"] == 0


def test_steady_conditions_give_no_flags(tmp_path):
    write_series(tmp_path / "timeseries.csv", [row(i / 10) for i in range(60)])
    windows = [window(0, 0.5, 2.0, 600.0), window(1, 3.0, 2.0, 600.0)]
    assert annotate_conditions(windows, {"file": "timeseries.csv"}, tmp_path, EnergySpec()) == []


def test_no_series_no_conditions(tmp_path):
    windows = [window(0, 0.5, 2.0, 600.0)]
    assert annotate_conditions(windows, {"file": None, "reason": "x"}, tmp_path, EnergySpec()) == []
    assert annotate_conditions(windows, None, tmp_path, EnergySpec()) == []
    assert "conditions" not in windows[0]

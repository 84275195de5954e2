"""The time-series sampler: a real spawned process replaying the H100 trace, and its summary."""

from __future__ import annotations

import csv
import time

import pytest
from energy_fakes import H100_TRACE, trace_rows

from llem.config.spec import EnergySpec
from llem.energy import start_sampler
from llem.energy.sampler import COLUMNS, summarize_rows


def test_sampler_process_writes_timeseries_and_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("LLEM_FAKE_NVML_TRACE", str(H100_TRACE))  # inherited by the spawned sampler
    t0 = time.time()
    s = start_sampler(EnergySpec(sample_interval_s=0.05), "cuda", [0], tmp_path)
    # Wait for five samples rather than a fixed time: on a loaded 2-core box the sampler may lag.
    deadline = time.monotonic() + 30
    while _data_rows(tmp_path / "timeseries.csv") < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    summary = s.stop()
    t1 = time.time()
    assert summary["file"] == "timeseries.csv"
    with open(tmp_path / summary["file"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == summary["samples"] >= 5
    times = [float(r["t_unix_s"]) for r in rows]
    assert all(t0 <= t <= t1 for t in times)  # absolute time, to locate windows
    # on a fixed schedule from the first sample (a late sample is caught up, never added)
    assert all(t - times[0] >= k * 0.05 - 0.01 for k, t in enumerate(times))
    assert {r["device"] for r in rows} == {"gpu0"}
    # The replay starts when the sampler opens NVML, just before its first sample: every sample is
    # one of the trace's readings from the span the sampler ran (plus 0.2 s for its start).
    span = [r for r in trace_rows() if float(r["t_s"]) <= times[-1] - times[0] + 0.2]
    powers = {int(r["power_instant_mw"]) / 1000 for r in span}
    assert {float(r["power_w"]) for r in rows} <= powers
    assert min(powers) <= summary["mean_power_w"] <= summary["peak_power_w"] <= max(powers)
    assert summary["temperature_c_start"] == 39 and summary["max_temperature_c"] in {int(r["temp_c"]) for r in span}
    assert summary["throttled_s"] == 0.0
    assert float(rows[0]["memory_used_mib"]) == 480.0


def _data_rows(path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def test_sampler_that_cannot_open_nvml_reports_why(tmp_path, monkeypatch):
    monkeypatch.delenv("LLEM_FAKE_NVML_TRACE", raising=False)
    from llem.energy.sampler import Sampler

    s = Sampler.start([0], 0.1, tmp_path)
    summary = s.stop()
    assert summary["file"] is None and summary["samples"] == 0
    assert "could not open NVML" in summary["reason"]


def test_summary_by_hand():
    rows = [
        # two GPUs, three instants 0.1 s apart; gpu1 hits SW power cap (0x4) at t=0.1
        {"t_unix_s": 0.0, "device": "gpu0", "power_w": 100.0, "temperature_c": 40, "throttle_reasons": 1},
        {"t_unix_s": 0.0, "device": "gpu1", "power_w": 200.0, "temperature_c": 41, "throttle_reasons": 0},
        {"t_unix_s": 0.1, "device": "gpu0", "power_w": 300.0, "temperature_c": 45, "throttle_reasons": 0},
        {"t_unix_s": 0.1, "device": "gpu1", "power_w": 400.0, "temperature_c": 50, "throttle_reasons": 4},
        {"t_unix_s": 0.2, "device": "gpu0", "power_w": 150.0, "temperature_c": 44, "throttle_reasons": 0},
        {"t_unix_s": 0.2, "device": "gpu1", "power_w": None, "temperature_c": 48, "throttle_reasons": 0},
    ]
    s = summarize_rows(rows)
    assert s["samples"] == 3
    assert s["peak_power_w"] == 700.0  # summed over GPUs at one instant
    assert s["mean_power_w"] == 500.0  # (300 + 700) / 2: the instant with a missing GPU is left out
    assert s["max_temperature_c"] == 50
    assert (s["temperature_c_start"], s["temperature_c_end"]) == (41, 48)
    assert s["throttled_s"] == pytest.approx(0.1)  # GPU idle (0x1) is not throttling
    assert s["throttle_reasons_seen"] == ["sw_power_cap"]

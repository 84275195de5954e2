"""Every way a meter can fail to measure gives null with a reason or a flag: never 0, never a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import require_module
from energy_fakes import H100_TRACE, VirtualClock, phase_span, trace_rows

from llem.energy import create_meter
from llem.testing.fake_nvml import FakeHandle, FakeNvml, read_trace
from llem.energy.nvml import NvmlMeter
from llem.energy.sampler import summarize_rows
from llem.results.measured import Measured
from llem.results.metrics import summarize_windows, window_metrics
from llem.results.schema import assemble
from llem.config.spec import EnergySpec, build_spec

ROWS = trace_rows()
UUID = "GPU-aaaaaaaa-1111-2222-3333-444444444444"


def fake(clock, **handle_kw) -> FakeNvml:
    return FakeNvml(
        read_trace(H100_TRACE),
        devices=[FakeHandle(0, UUID, **handle_kw)],
        clock=clock.now,
        sleep=clock.sleep,
        read_cost_s=0.0039,
        start_offset_s=phase_span(ROWS, "matmul")[0],
    )


def test_unsupported_energy_counter_falls_back_with_reason_under_auto(monkeypatch, tmp_path):
    clock = VirtualClock()
    nvml = fake(clock, energy_supported=False)
    monkeypatch.setattr("llem.energy.nvml.load_nvml", lambda env=None: nvml)
    monkeypatch.setenv("LLEM_POWERCAP_ROOT", str(tmp_path / "none"))
    meter = create_meter(EnergySpec(meter="auto"), "cuda", [0])  # no crash
    assert not meter.measures
    m = (meter.begin("w"), meter.end("w"))[1]
    assert m.total_j is None and m.energy_j == {"gpu0": None}
    assert "no readable NVML energy counter" in m.reason and "Not Supported" in m.reason


def test_unsupported_energy_counter_under_energy_nvml_is_one_sentence(monkeypatch):
    from llem.errors import UserError

    nvml = fake(VirtualClock(), energy_supported=False)
    monkeypatch.setattr("llem.energy.nvml.load_nvml", lambda env=None: nvml)
    with pytest.raises(UserError, match="energy=nvml cannot measure here: gpu0 .* has no readable NVML energy counter"):
        create_meter(EnergySpec(meter="nvml"), "cuda", [0])


def flat_trace(tmp_path: Path) -> Path:
    flat = tmp_path / "flat.csv"
    lines = H100_TRACE.read_text().splitlines()
    first = lines[1].split(",")
    flat.write_text(lines[0] + "\n" + "\n".join(",".join([f"{i * 0.01:.3f}"] + first[1:]) for i in range(2000)) + "\n")
    return flat


@pytest.mark.parametrize("align", [True, False])
def test_counter_that_did_not_move_is_null_not_zero(tmp_path, align):
    clock = VirtualClock()
    nvml = FakeNvml.from_csv(flat_trace(tmp_path), clock=clock.now, sleep=clock.sleep, loop=False)
    m = NvmlMeter([0], nvml=nvml, clock=clock.now, sleep=clock.sleep, align=align)
    m.update_period_s = 0.1  # as measured on a live H100, before the counter stalled
    m.begin("w")
    clock.sleep(1.0)
    res = m.end("w")
    assert res.energy_j == {"gpu0": None} and res.total_j is None
    assert "did not move" in res.reason and "not 0 J" in res.reason


def test_unreadable_throttle_reasons_are_unknown_not_unthrottled():
    rows = [
        {"t_unix_s": t / 10, "device": "gpu0", "power_w": 300.0, "temperature_c": 50, "throttle_reasons": None} for t in range(5)
    ]
    s = summarize_rows(rows)
    assert s["throttled_s"] is None and s["throttle_unknown_s"] == pytest.approx(0.4)
    rows[2]["throttle_reasons"] = 0x4  # one readable instant, power-capped
    s = summarize_rows(rows)
    assert s["throttled_s"] == pytest.approx(0.1) and s["throttle_reasons_seen"] == ["sw_power_cap"]


def test_sampler_reads_unreadable_throttle_reasons_as_none():
    from llem.energy.sampler import read_sample

    clock = VirtualClock()
    nvml = fake(clock, throttle_readable=False)
    nvml.nvmlInit()
    sample = read_sample(nvml, nvml.devices[0])
    assert sample["throttle_reasons"] is None and sample["power_w"] is not None


def test_codecarbon_on_a_gpu_job_that_found_no_gpu_is_not_the_total():
    require_module("codecarbon", "CodeCarbon", "pip install 'llem[test]'")
    from llem.energy.codecarbon import CodeCarbonMeter

    meter = CodeCarbonMeter([0])  # the real tracker; this machine has no NVIDIA GPU for it to find
    try:
        meter.begin("w")
        time.sleep(0.5)
        m = meter.end("w")
    finally:
        meter.close()
    assert "gpu_estimate" not in m.energy_j and m.energy_j.get("cpu_estimate")
    assert m.total_j is None and "found no GPU for this GPU job" in m.reason
    assert meter.describe()["estimate"] is True


def _spec():
    return build_spec(
        {
            "backend": {"name": "pytorch"},
            "model": {"name": "tiny", "source": "builtin", "id": "tiny"},
            "hardware": {"name": "cpu", "device": "cpu"},
            "energy": {"meter": "nvml"},
            "workload": {"name": "synthetic", "source": "synthetic", "num_prompts": 2, "input_tokens": 8, "output_tokens": 4},
        }
    )


def test_one_unmeasured_window_of_three_is_said_in_metrics_and_validity(monkeypatch):
    monkeypatch.setenv("LLEM_FAKE_NVML_TRACE", str(H100_TRACE))  # lets energy=nvml validate on CPU
    clock = VirtualClock()
    start = phase_span(ROWS, "matmul")[0]
    nvml = fake(clock, reset_at_s=start + 5.0)  # driver reload during the second window
    m = NvmlMeter([0], nvml=nvml, clock=clock.now, sleep=clock.sleep)
    windows = []
    for i in range(3):
        m.begin(f"w{i}")
        clock.sleep(3.0)
        res = m.end(f"w{i}")
        w = window_metrics(res.duration_s, 2, 16, 8, res.total_j, None, None)
        w.update(index=i, energy=res.to_dict(), batch_latency_s=[res.duration_s])
        windows.append(w)
    assert [w["energy_j"] is None for w in windows] == [False, True, False]
    measured = Measured(
        device="cuda",
        gpus=[0],
        engine={},
        meter=m.describe(),
        baseline={"power_w": None},
        windows=windows,
        statistics=summarize_windows(windows),
        latency={},
        memory={},
        requests={"count": 2, "input_tokens": [8, 8]},
    )
    result = assemble(_spec(), measured, {}, time.time())
    assert result["validity"]["windows_measured"] == "2 of 3" and not result["validity"]["ok"]
    assert any(f.startswith("partially_measured: 2 of 3") and "reset" in f for f in result["validity"]["flags"])
    assert (
        result["metrics"]["energy_reason"].startswith("2 of 3 windows measured") and "reset" in result["metrics"]["energy_reason"]
    )
    assert result["statistics"]["energy_j"]["n"] == 2 and result["statistics"]["energy_j"]["n_missing"] == 1
    assert result["schema_version"] == 2


def test_codecarbon_figures_say_estimate_in_report_and_mlflow():
    from llem.results.basis import meter_label
    from llem.tracking.payload import params, tags

    record = {
        "status": "ok",
        "spec": {},
        "identity": {"run_id": "r"},
        "energy": {"meter": {"meter": "codecarbon", "estimate": True}},
        "metrics": {"energy_j": 12.0, "energy_reason": None, "energy_basis": "estimate (modelled, not measured)"},
    }
    assert meter_label(record) == "codecarbon (estimate)"
    assert params(record)["energy_meter"] == "codecarbon (estimate)" and params(record)["energy_basis"] == "estimate"
    assert tags(record)["llem.energy"].startswith("estimate")
    measured = dict(record, energy={"meter": {"meter": "nvml"}})
    assert params(measured)["energy_basis"] == "measured" and "llem.energy" not in tags(measured)

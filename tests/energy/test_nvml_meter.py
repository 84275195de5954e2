"""The NVML meter against a replayed H100 trace (virtual time): joules, update period, resets,
device mapping. The fake implements pynvml's API; test_fake_matches_pynvml keeps it honest."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from conftest import require_module
from energy_fakes import H100_TRACE, VirtualClock, counter_at, phase_span, trace_rows

from llem.testing.fake_nvml import FakeHandle, FakeNvml, read_trace
from llem.energy.nvml import NvmlMeter, NvmlUnavailable
from llem.host.visible_devices import parse_visible_devices

READ_COST = 0.0039  # one energy-counter read on the H100 we measured
ROWS = trace_rows()
ROWS_RAW = read_trace(H100_TRACE)
UUID_A = "GPU-aaaaaaaa-1111-2222-3333-444444444444"
UUID_B = "GPU-bbbbbbbb-1111-2222-3333-444444444444"


def fake(clock: VirtualClock, offset: float = 0.0, devices=None, **kw) -> FakeNvml:
    return FakeNvml(
        read_trace(H100_TRACE),
        devices=devices or [FakeHandle(0, UUID_A)],
        clock=clock.now,
        sleep=clock.sleep,
        read_cost_s=READ_COST,
        start_offset_s=offset,
        **kw,
    )


def meter(clock, nvml, gpus=(0,), visible=None, align=False) -> NvmlMeter:
    """Unaligned by default: these tests check the raw edge arithmetic (test_alignment.py: aligned)."""
    return NvmlMeter(list(gpus), nvml=nvml, visible=visible, clock=clock.now, sleep=clock.sleep, align=align)


def run_window(clock, m, nvml, seconds: float, name="w"):
    """begin, let `seconds` of virtual time pass, end; also returns the trace times of both reads."""
    t_begin = nvml.trace_time() + READ_COST / 2
    m.begin(name)
    clock.sleep(seconds)
    t_end = nvml.trace_time() + READ_COST / 2
    return m.end(name), t_begin, t_end


def test_matmul_window_joules_match_the_trace_counter():
    clock = VirtualClock()
    start, _ = phase_span(ROWS, "matmul")
    nvml = fake(clock, offset=start + 0.5)
    m = meter(clock, nvml)
    res, tb, te = run_window(clock, m, nvml, 3.0)
    expected_j = (counter_at(ROWS, te) - counter_at(ROWS, tb)) / 1000
    assert res.energy_j == {"gpu0": pytest.approx(expected_j)}
    assert res.total_j == pytest.approx(expected_j)
    assert res.reason is None
    assert res.raw["gpu0"] == {"begin": counter_at(ROWS, tb), "end": counter_at(ROWS, te), "unit": "mJ"}
    # Physics, independent of the replay: the counter's slope under matmul is ~674 W, and one
    # window can be off by at most one ~67 J step per edge.
    assert abs(res.total_j / res.duration_s - 674) < 2 * 67.4 / 3.0
    assert res.duration_s == pytest.approx(3.0 + READ_COST, abs=1e-9)


def test_update_period_is_measured_not_assumed():
    clock = VirtualClock()
    for phase in ("idle0", "matmul", "generate"):
        start, _ = phase_span(ROWS, phase)
        m = meter(clock, fake(clock, offset=start + 0.2))
        assert m.update_period_s == pytest.approx(0.100, abs=0.012), phase
        assert m.describe()["update_period_measured"] is True


def test_a_counter_that_never_moves_gives_no_period(tmp_path: Path):
    flat = tmp_path / "flat.csv"
    lines = H100_TRACE.read_text().splitlines()
    header, first = lines[0], lines[1].split(",")
    flat.write_text(header + "\n" + "\n".join(",".join([f"{i * 0.01:.3f}"] + first[1:]) for i in range(500)) + "\n")
    clock = VirtualClock()
    nvml = FakeNvml.from_csv(flat, clock=clock.now, sleep=clock.sleep, loop=False)
    m = NvmlMeter([0], nvml=nvml, clock=clock.now, sleep=clock.sleep)
    assert m.update_period_s is None


def test_counter_is_read_only_at_window_edges():
    clock = VirtualClock()
    nvml = fake(clock, offset=10.0)
    m = meter(clock, nvml)
    before = nvml.reads
    run_window(clock, m, nvml, 2.5)
    assert nvml.reads - before == 2


def test_counter_reset_inside_a_window_is_null_with_reason():
    clock = VirtualClock()
    start, _ = phase_span(ROWS, "matmul")
    nvml = fake(clock, offset=start, devices=[FakeHandle(0, UUID_A, reset_at_s=start + 2.0)])
    m = meter(clock, nvml)
    res, tb, te = run_window(clock, m, nvml, 2.5)
    assert tb < start + 2.0 < te
    assert res.energy_j == {"gpu0": None}
    assert res.total_j is None
    assert "reset" in res.reason and "gpu0" in res.reason
    assert res.raw["gpu0"]["end"] < res.raw["gpu0"]["begin"]
    # The next window, after the reset, measures again.
    res2, _, _ = run_window(clock, m, nvml, 2.5, name="w2")
    assert res2.total_j is not None and res2.total_j > 0


def test_window_shorter_than_one_update_is_null_not_zero():
    clock = VirtualClock()
    nvml = fake(clock, offset=2.0)
    m = meter(clock, nvml)
    res, _, _ = run_window(clock, m, nvml, 0.03)
    assert res.energy_j == {"gpu0": None} and res.total_j is None
    assert "shorter than one counter update" in res.reason


def test_two_gpus_mapped_through_uuid_prefixes_summed_and_per_device():
    clock = VirtualClock()
    start, _ = phase_span(ROWS, "matmul")
    devices = [FakeHandle(0, UUID_A), FakeHandle(1, UUID_B, energy_scale=2.0)]
    nvml = fake(clock, offset=start + 0.3, devices=devices)
    # The job's GPU 0 is the second physical GPU: CUDA_VISIBLE_DEVICES lists it first.
    m = meter(clock, nvml, gpus=(0, 1), visible="GPU-bbbbbbbb,GPU-aaaa")
    assert {k: v["uuid"] for k, v in m.describe()["devices"].items()} == {"gpu0": UUID_B, "gpu1": UUID_A}
    t_b0 = nvml.trace_time() + READ_COST / 2
    m.begin("w")
    clock.sleep(3.0)
    t_e0 = nvml.trace_time() + READ_COST / 2
    res = m.end("w")
    t_b1, t_e1 = t_b0 + READ_COST, t_e0 + READ_COST  # the second GPU is read one read later
    e0 = 2 * (counter_at(ROWS, t_e0) - counter_at(ROWS, t_b0)) / 1000
    e1 = (counter_at(ROWS, t_e1) - counter_at(ROWS, t_b1)) / 1000
    assert res.energy_j == {"gpu0": pytest.approx(e0, abs=1e-3), "gpu1": pytest.approx(e1, abs=1e-3)}
    assert res.total_j == pytest.approx(e0 + e1, abs=1e-3)


def test_visible_index_selects_the_nvml_device():
    clock = VirtualClock()
    devices = [FakeHandle(0, UUID_A), FakeHandle(1, UUID_B)]
    m = meter(clock, fake(clock, devices=devices), gpus=(0,), visible="1")
    assert m.describe()["devices"]["gpu0"] == {"uuid": UUID_B, "visible_as": "1", "mig_uuid": None}


def test_a_gpu_beyond_the_visible_ones_is_refused():
    clock = VirtualClock()
    with pytest.raises(NvmlUnavailable, match="uses GPU 2 but only 2 GPU"):
        meter(clock, fake(clock, devices=[FakeHandle(0, UUID_A), FakeHandle(1, UUID_B)]), gpus=(2,), visible="0,1")


def test_mig_instance_reads_its_parent_and_says_so():
    clock = VirtualClock()
    parent = FakeHandle(0, UUID_A)
    mig = FakeHandle(0, "MIG-cccccccc-1111-2222-3333-444444444444", parent=parent)
    m = meter(clock, fake(clock, devices=[parent, mig]), visible=mig.uuid)
    d = m.describe()
    assert d["devices"]["gpu0"]["uuid"] == UUID_A and d["devices"]["gpu0"]["mig_uuid"] == mig.uuid
    assert "whole physical GPU" in d["caveats"][0]
    # the counter is the parent's: the MIG handle itself is refused, as by real NVML
    with pytest.raises(m.nvml.NVMLError, match="Not Supported") as exc:
        m.nvml.nvmlDeviceGetTotalEnergyConsumption(mig)
    assert exc.value.value == m.nvml.NVML_ERROR_NOT_SUPPORTED
    w, tb, te = run_window(clock, m, m.nvml, 2.0)
    assert w.reason is None and w.total_j == pytest.approx((counter_at(ROWS, te) - counter_at(ROWS, tb)) / 1000)


@pytest.mark.parametrize(
    "value,expected",
    [
        (None, None),
        ("", []),
        ("-1", []),
        ("0,1", ["0", "1"]),
        ("1, 0", ["1", "0"]),
        ("0,,1", ["0"]),
        ("0,-1,1", ["0"]),
        ("GPU-ab12,MIG-cd34", ["GPU-ab12", "MIG-cd34"]),
        ("0,foo,1", ["0"]),
    ],
)
def test_parse_visible_devices_as_cuda_does(value, expected):
    assert parse_visible_devices(value) == expected


def test_fake_matches_pynvml_api():
    """Every pynvml name the fake implements exists in the real pynvml, with the same constants."""
    pynvml = require_module("pynvml", "nvidia-ml-py (pynvml)", "pip install 'llem[test]'")
    for name, value in inspect.getmembers(FakeNvml):
        if name.startswith("nvml"):
            assert callable(getattr(pynvml, name, None)), name
        elif name.startswith("NVML_"):
            assert getattr(pynvml, name) == value, name
    assert issubclass(pynvml.NVMLError, Exception)


def test_real_pynvml_without_a_gpu_is_unavailable_with_a_reason():
    pynvml = require_module("pynvml", "nvidia-ml-py (pynvml)", "pip install 'llem[test]'")
    if Path("/dev/nvidia0").exists():
        pytest.skip("this machine has an NVIDIA GPU")
    with pytest.raises(NvmlUnavailable, match="NVML could not start"):
        NvmlMeter([0], nvml=pynvml)


# --- what the meter records and says, exactly (mutation testing found these unchecked) ---------


def test_without_pynvml_the_reason_names_the_package(monkeypatch):
    import sys

    from llem.testing.fake_nvml import FAKE_TRACE_ENV
    from llem.energy.nvml import load_nvml

    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    monkeypatch.setenv(FAKE_TRACE_ENV, str(H100_TRACE))  # only the environment passed in counts
    with pytest.raises(NvmlUnavailable) as exc:
        load_nvml({})
    assert str(exc.value) == "the Python package nvidia-ml-py (pynvml) is not installed: pip install 'llem[nvml]'"
    assert isinstance(load_nvml({FAKE_TRACE_ENV: str(H100_TRACE)}), FakeNvml)
    with pytest.raises(NvmlUnavailable) as no_gpu:
        NvmlMeter([], nvml=FakeNvml(ROWS_RAW))
    assert str(no_gpu.value) == "the job uses no GPU, so there is nothing for NVML to measure"


def test_visible_devices_come_from_the_environment(monkeypatch):
    clock = VirtualClock()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    m = NvmlMeter(
        [0],
        nvml=fake(clock, devices=[FakeHandle(0, UUID_A), FakeHandle(1, UUID_B)]),
        clock=clock.now,
        sleep=clock.sleep,
        align=False,
    )
    assert m.describe()["devices"]["gpu0"] == {"uuid": UUID_B, "visible_as": "1", "mig_uuid": None}


def test_describe_and_alignment_notes_word_for_word():
    clock = VirtualClock()
    m = NvmlMeter([0], nvml=fake(clock), clock=clock.now, sleep=clock.sleep)
    assert m.baseline_w is None and m.align is True and m.align_note is None
    assert m.describe() == {
        "meter": "nvml",
        "measures": "NVIDIA GPU total-energy counter (nvmlDeviceGetTotalEnergyConsumption), per job GPU, "
        "read at window edges after a device synchronize",
        "devices": {"gpu0": {"uuid": UUID_A, "visible_as": "0", "mig_uuid": None}},
        "update_period_s": m.update_period_s,
        "update_period_measured": True,
        "align_edges": True,
        "align_note": None,
        "caveats": [],
        "flags": [],
    }
    off = NvmlMeter([0], nvml=fake(clock), clock=clock.now, sleep=clock.sleep, align=False)
    assert off.align is False and off.align_note == "energy.align_edges=false"
    blind = NvmlMeter([0], nvml=fake(clock), clock=clock.now, sleep=clock.sleep, calibrate=False)
    assert blind.update_period_s is None and blind.align is False
    assert blind.align_note == "the counter's update period is unknown: edges not aligned"
    assert blind.describe()["update_period_measured"] is False


def test_a_window_records_its_meter_period_and_both_clocks():
    clock = VirtualClock()
    nvml = fake(clock, offset=phase_span(ROWS, "matmul")[0])
    # aligned edges: the window starts at a counter update after begin() was called, so the unix
    # interval must be shifted by that wait (the same offset as the monotonic one)
    m = NvmlMeter([0], nvml=nvml, clock=clock.now, sleep=clock.sleep, align=True, wall=lambda: clock.t + 1e9)
    called = clock.t
    res, _, _ = run_window(clock, m, nvml, 2.0)
    assert res.meter == "nvml" and res.update_period_s == m.update_period_s
    start, stop = res.interval_monotonic_s
    assert start > called  # it waited for an edge
    assert res.interval_unix_s == [pytest.approx(start + 1e9, abs=1e-6), pytest.approx(stop + 1e9, abs=1e-6)]
    assert res.residual_j is not None and res.residual_j["low"] <= 0 <= res.residual_j["high"]
    # a counter reset inside the window: no joules, so no residual either
    reset = fake(clock, devices=[FakeHandle(0, UUID_A, reset_at_s=nvml.trace_time() + 1.0)], offset=nvml.trace_time())
    m2 = NvmlMeter([0], nvml=reset, clock=clock.now, sleep=clock.sleep, align=False)
    res2, _, _ = run_window(clock, m2, reset, 2.0)
    assert res2.total_j is None and res2.residual_j is None and "went backwards" in res2.reason

"""energy=auto picks what is measurable, composes it, and says plainly when nothing is."""

from __future__ import annotations

import pytest
from energy_fakes import H100_TRACE, make_zone, set_energy

from llem.config.spec import EnergySpec
from llem.energy import NOTHING_HERE, NullMeter, create_meter, start_sampler
from llem.energy.composite import CompositeMeter


@pytest.fixture
def no_sensors(tmp_path, monkeypatch):
    monkeypatch.setenv("LLEM_POWERCAP_ROOT", str(tmp_path / "no-powercap"))
    monkeypatch.delenv("LLEM_FAKE_NVML_TRACE", raising=False)


def test_nothing_measurable_on_a_cpu_machine(no_sensors, tmp_path):
    m = create_meter(EnergySpec(meter="auto"), "cpu", [])
    assert isinstance(m, NullMeter) and not m.measures
    assert m.describe()["reason"] == NOTHING_HERE
    m.begin("w")
    res = m.end("w")
    assert res.total_j is None and res.energy_j == {} and "nothing is measurable here" in res.reason
    assert start_sampler(EnergySpec(), "cpu", [], tmp_path) is None


def test_cuda_job_without_nvml_keeps_gpu_null_beside_measured_cpu(tmp_path, monkeypatch):
    """A GPU job whose GPU cannot be read must not report CPU joules as the job's total."""
    monkeypatch.delenv("LLEM_FAKE_NVML_TRACE", raising=False)
    monkeypatch.setenv("LLEM_POWERCAP_ROOT", str(tmp_path))
    pkg = make_zone(tmp_path / "intel-rapl:0", "package-0", 0)
    m = create_meter(EnergySpec(meter="auto"), "cuda", [0])
    assert isinstance(m, CompositeMeter) and m.name == "nvml+rapl"
    m.begin("w")
    set_energy(pkg, 4_000_000)
    res = m.end("w")
    assert res.energy_j == {"gpu0": None, "cpu-package-0": pytest.approx(4.0)}
    assert res.total_j is None and "GPU energy not measured" in res.reason
    parts = m.describe()["parts"]
    assert parts[0]["measured"] is False and parts[1]["meter"] == "rapl"


def test_cpu_job_with_rapl_measures_cpu(tmp_path, monkeypatch):
    monkeypatch.delenv("LLEM_FAKE_NVML_TRACE", raising=False)
    monkeypatch.setenv("LLEM_POWERCAP_ROOT", str(tmp_path))
    pkg = make_zone(tmp_path / "intel-rapl:0", "package-0", 0)
    m = create_meter(EnergySpec(meter="auto"), "cpu", [])
    m.begin("w")
    set_energy(pkg, 2_500_000)
    res = m.end("w")
    assert res.total_j == pytest.approx(2.5) and res.meter == "rapl"
    assert "no GPU to meter" in m.describe()["notes"][0]
    assert create_meter(EnergySpec(meter="auto", include_cpu=False), "cpu", []).measures is False


def test_fake_trace_hook_meters_gpu_and_cpu_together(tmp_path, monkeypatch):
    monkeypatch.setenv("LLEM_FAKE_NVML_TRACE", str(H100_TRACE))
    monkeypatch.setenv("LLEM_POWERCAP_ROOT", str(tmp_path))
    make_zone(tmp_path / "intel-rapl:0", "package-0", 0)
    m = create_meter(EnergySpec(meter="auto"), "cpu", [])
    assert m.name == "nvml+rapl" and m.measures
    assert m.describe()["parts"][0]["update_period_s"] == pytest.approx(0.1, abs=0.03)
    m.close()


def test_none_is_off_with_reason():
    m = create_meter(EnergySpec(meter="none"), "cuda", [0])
    assert not m.measures and "turned off" in m.describe()["reason"]


def test_a_composites_rapl_idle_power_is_over_its_own_interval_not_the_gpus(tmp_path):
    """GPU (100 ms counter, aligned edges) + RAPL (read at once) on one virtual clock: the baseline window's
    GPU edges run update to update, RAPL's from just after the first update to the end call. RAPL's idle
    power divided by the GPU's update-to-update time came out ~1% low; over its own interval it is exact."""
    from energy_fakes import ScheduledNvml, VirtualClock

    from llem.energy.baseline import measure_idle
    from llem.energy.nvml import NvmlMeter
    from llem.energy.rapl import RaplMeter

    clock = VirtualClock(1000.0)
    pkg = make_zone(tmp_path / "intel-rapl:0", "package-0", 0)
    cpu_w = 50.0

    def sleep(dt):  # the package draws cpu_w; its counter (uJ) follows virtual time, as RAPL's ~1 ms updates do
        clock.sleep(dt)
        set_energy(pkg, int(cpu_w * 1e6 * (clock.t - 1000.0)))

    nvml = ScheduledNvml(clock, phase=0.037)
    gpu = NvmlMeter([0], nvml=nvml, clock=clock.now, sleep=sleep)
    rapl = RaplMeter(root=tmp_path, clock=clock.now, sleep=sleep)
    meter = CompositeMeter([gpu, rapl], clock=clock.now)
    idle = measure_idle(
        meter, lambda: None, EnergySpec(baseline_s=5.0, settle_max_s=0), lambda _m: None, "baseline", sleep=sleep, clock=clock.now
    )
    assert idle["power_w_per_device"]["gpu0"] == pytest.approx(120.0, rel=1e-3)
    assert idle["power_w_per_device"]["cpu-package-0"] == pytest.approx(cpu_w, rel=1e-3)

"""Issue 19, what needs no second real GPU: CUDA_VISIBLE_DEVICES as indices, UUIDs, short UUID
prefixes, MIG UUIDs and in a non-identity order, composed with hardware.gpus the way a job's worker
composes them (llem/run/worker.py job_env, llem/host/visible_devices.py), meter the GPU that computes on a
two-device replayed NVML; and the check against the UUID CUDA reports once the engine started."""

from __future__ import annotations

import os

import pytest
from energy_fakes import H100_TRACE, VirtualClock, counter_at, phase_span, trace_rows

from llem.testing.fake_nvml import FakeHandle, FakeNvml, read_trace
from llem.energy.nvml import NvmlMeter, NvmlUnavailable
from llem.errors import UserError
from llem.run.worker import job_env
from llem.config.spec import HardwareSpec
from llem.host.visible_devices import LAUNCH_ENV, UNSET, launch_devices, narrow_visible, remember_launch_devices

ROWS = trace_rows()
A = "GPU-aaaaaaaa-1111-2222-3333-444444444444"  # NVML index 0, PCI order
B = "GPU-bbbbbbbb-5555-6666-7777-888888888888"  # NVML index 1; draws twice A's power (energy_scale 2)
MIG_B = "MIG-cccccccc-1111-2222-3333-444444444444"  # a MIG instance of B


def two_gpus(clock):
    a, b = FakeHandle(0, A), FakeHandle(1, B, energy_scale=2.0)
    start, _ = phase_span(ROWS, "matmul")
    return FakeNvml(
        read_trace(H100_TRACE),
        devices=[a, b, FakeHandle(1, MIG_B, parent=b)],
        clock=clock.now,
        sleep=clock.sleep,
        start_offset_s=start + 0.3,
    )


class _Job:
    def __init__(self, gpus):
        self.hardware = HardwareSpec(name="h", device="cuda", gpus=gpus, gpu_count=len(gpus))


def metered(launch, gpus, monkeypatch):
    """The worker's CUDA_VISIBLE_DEVICES for a job on `gpus` under a llem started with `launch`, then
    the meter it builds; a launcher (submitit) has set CUDA_VISIBLE_DEVICES=0 for the job meanwhile."""
    if launch is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", launch)
    monkeypatch.delenv(LAUNCH_ENV, raising=False)
    remember_launch_devices()  # what llem/cli/__init__.py main() does first
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    visible = job_env(_Job(gpus))["CUDA_VISIBLE_DEVICES"]
    clock = VirtualClock()
    nvml = two_gpus(clock)
    return (
        visible,
        NvmlMeter(list(range(len(gpus))), nvml=nvml, visible=visible, clock=clock.now, sleep=clock.sleep, align=False),
        clock,
        nvml,
    )


@pytest.mark.parametrize(
    "launch,gpus,worker,expected",
    [
        (None, [1], "1", [B]),
        (None, [1, 0], "1,0", [B, A]),
        ("1,0", [0], "1", [B]),  # non-identity order: the job's GPU 0 is NVML's 1
        ("1,0", [1], "0", [A]),
        ("1,0", [0, 1], "1,0", [B, A]),
        (f"{B},{A}", [0], B, [B]),  # full UUIDs
        ("GPU-bbbb,GPU-aaaaaaaa", [1, 0], "GPU-aaaaaaaa,GPU-bbbb", [A, B]),  # short prefixes, as CUDA accepts them
        (MIG_B, [0], MIG_B, [B]),  # a MIG instance: its parent's counter
        ("MIG-cccc", [0], "MIG-cccc", [B]),  # ... named by a prefix of its UUID (CUDA runs one MIG instance a process)
    ],
)
def test_each_form_meters_the_gpu_that_computes(launch, gpus, worker, expected, monkeypatch):
    visible, m, clock, nvml = metered(launch, gpus, monkeypatch)
    assert visible == worker
    devices = m.describe()["devices"]
    assert [devices[f"gpu{i}"]["uuid"] for i in range(len(gpus))] == expected
    # ... and the joules are that GPU's: B's counter runs at twice A's
    tb = nvml.trace_time()
    m.begin("w")
    clock.sleep(3.0)
    te = nvml.trace_time()
    res = m.end("w")
    trace_j = (counter_at(ROWS, te) - counter_at(ROWS, tb)) / 1000
    for i, uuid in enumerate(expected):
        assert res.energy_j[f"gpu{i}"] == pytest.approx(trace_j * (2.0 if uuid == B else 1.0), abs=2e-3)
    assert res.total_j == pytest.approx(sum(res.energy_j.values()))
    assert bool(m.describe()["caveats"]) == ("MIG-" in worker)
    assert devices["gpu0"]["mig_uuid"] == (MIG_B if "MIG-" in worker else None)  # whole, also from a prefix


def test_a_mig_prefix_nothing_or_two_instances_match_is_refused(monkeypatch):
    clock = VirtualClock()
    nvml = two_gpus(clock)
    nvml.devices.append(FakeHandle(1, "MIG-cccccccc-9999-2222-3333-444444444444", parent=nvml.devices[1]))
    for entry, how in (("MIG-dddd", "no"), ("MIG-cccccccc", "more than one")):
        with pytest.raises(NvmlUnavailable, match=f"entry {entry} matches {how} MIG instance known to NVML"):
            NvmlMeter([0], nvml=nvml, visible=entry, clock=clock.now, sleep=clock.sleep, align=False)


def test_hardware_gpus_beyond_what_llem_was_started_with_is_one_sentence():
    with pytest.raises(UserError) as exc:
        narrow_visible("GPU-bbbb,GPU-aaaa", [2])
    assert str(exc.value) == (
        "hardware.gpus=[2] asks for GPU 2, but llem was started with CUDA_VISIBLE_DEVICES=GPU-bbbb,GPU-aaaa, "
        "which shows 2 GPU(s): use indices 0..1 into that list, or start llem with more GPUs visible."
    )


def test_the_launch_devices_survive_an_in_process_job_narrowing_them(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,2")
    monkeypatch.delenv(LAUNCH_ENV, raising=False)
    remember_launch_devices()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", job_env(_Job([1]))["CUDA_VISIBLE_DEVICES"])  # run.isolation=inline
    assert launch_devices() == "3,2" and job_env(_Job([0]))["CUDA_VISIBLE_DEVICES"] == "3"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.delenv(LAUNCH_ENV)
    remember_launch_devices()
    assert launch_devices() is None and job_env(_Job([1]))["CUDA_VISIBLE_DEVICES"] == "1"
    monkeypatch.setenv(LAUNCH_ENV, UNSET)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # submitit's numbering does not count
    assert job_env(_Job([1]))["CUDA_VISIBLE_DEVICES"] == "1"


def test_an_inline_job_without_hardware_gpus_sees_the_launch_devices_again(monkeypatch):
    from llem.host.visible_devices import restore_launch_devices

    monkeypatch.setenv(LAUNCH_ENV, "3,2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")  # narrowed by the job before, in this process
    restore_launch_devices()
    assert launch_devices() == "3,2" and job_env(_Job([1]))["CUDA_VISIBLE_DEVICES"] == "2"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3,2"
    monkeypatch.setenv(LAUNCH_ENV, UNSET)
    restore_launch_devices()
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    monkeypatch.delenv(LAUNCH_ENV)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    restore_launch_devices()  # no llem CLI started this process: nothing to restore
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"


def test_cuda_agreeing_is_recorded_and_raises_no_flag(monkeypatch):
    _, m, _, _ = metered("1,0", [0, 1], monkeypatch)
    assert m.check_devices([B.lower(), A.removeprefix("GPU-")]) == []  # torch's bare, lower-case form too
    assert {k: d["cuda_check"] for k, d in m.describe()["devices"].items()} == {"gpu0": "match", "gpu1": "match"}


def test_an_engine_that_cannot_tell_leaves_the_mapping_unchecked(monkeypatch):
    _, m, _, _ = metered(None, [0], monkeypatch)
    assert m.check_devices(None) == []
    assert m.describe()["devices"]["gpu0"]["cuda_check"] == "not checked: the engine does not report CUDA's device UUIDs"


def test_cuda_disagreeing_moves_the_meter_to_the_computing_gpu_with_a_flag(monkeypatch):
    # CUDA_DEVICE_ORDER overridden to FASTEST_FIRST, say: CUDA's device 0 is B although "0" maps to A
    _, m, clock, nvml = metered(None, [0], monkeypatch)
    assert m.describe()["devices"]["gpu0"]["uuid"] == A
    [flag] = m.check_devices([B])
    assert flag == (
        f"gpu_mapping: gpu0: CUDA_VISIBLE_DEVICES entry '0' maps to NVML GPU {A}, but CUDA reports {B} "
        f"for cuda:0; energy is metered on {B}, the GPU that computes, while the time series and any power or clock "
        "settings followed the mapping (is CUDA_DEVICE_ORDER=PCI_BUS_ID overridden?)"
    )
    d = m.describe()["devices"]["gpu0"]
    assert d["uuid"] == B and d["cuda_check"] == f"mismatch: mapped to {A}, CUDA reports {B}; metered {B}"
    tb = nvml.trace_time()
    m.begin("w")
    clock.sleep(3.0)
    te = nvml.trace_time()
    assert m.end("w").energy_j["gpu0"] == pytest.approx(2 * (counter_at(ROWS, te) - counter_at(ROWS, tb)) / 1000, abs=2e-3)


def test_a_uuid_nvml_does_not_know_keeps_the_mapping_and_says_so(monkeypatch):
    _, m, _, _ = metered(None, [0], monkeypatch)
    [flag] = m.check_devices(["GPU-ffffffff-0000-0000-0000-000000000000"])
    assert flag.startswith("gpu_mapping: CUDA reports device UUIDs") and "matches no GPU known to NVML" in flag
    assert flag.endswith("); energy stays metered on the CUDA_VISIBLE_DEVICES mapping")  # what the reader must know
    assert m.describe()["devices"]["gpu0"]["uuid"] == A


def test_the_harness_checks_the_mapping_once_the_engine_has_loaded(tmp_path, monkeypatch):
    """The whole offline harness in this process on a two-GPU replay: the engine (transformers on
    CPU, standing in for one on a GPU) reports CUDA's UUID for its device 0 as the second fake GPU
    while CUDA_VISIBLE_DEVICES=0 maps to the first; the job is metered on the second and flagged."""
    from hydra import compose, initialize_config_module

    from llem.cli.app import plain_config
    from llem.backends.pytorch.backend import PyTorchBackend
    from llem.testing.fake_nvml import FAKE_GPUS_ENV, FAKE_TRACE_ENV, fake_devices
    from llem.run.job import measure
    from llem.config.spec import build_spec

    first, second = fake_devices("1,2")
    monkeypatch.setenv(FAKE_TRACE_ENV, str(H100_TRACE))
    monkeypatch.setenv(FAKE_GPUS_ENV, "1,2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(PyTorchBackend, "cuda_uuids", lambda self: [second.uuid])
    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = plain_config(
            compose(
                config_name="config",
                overrides=[
                    "model=tiny",
                    "hardware=cpu",
                    "tracking=none",
                    "workload.num_prompts=2",
                    "workload.input_tokens=8",
                    "workload.output_tokens=4",
                    "run.repeats=1",
                    "run.warmup=0",
                    "energy.baseline_s=0",
                    "energy.sampler=false",
                    "run.min_window_s=1",
                ],
            )
        )
    measured = measure(build_spec(cfg), tmp_path)
    [flag] = [f for f in measured.flags if f.startswith("gpu_mapping")]
    assert f"maps to NVML GPU {first.uuid}, but CUDA reports {second.uuid} for cuda:0" in flag
    [nvml] = [p for p in measured.meter.get("parts", [measured.meter]) if p["meter"] == "nvml"]
    assert nvml["devices"]["gpu0"]["uuid"] == second.uuid
    assert nvml["devices"]["gpu0"]["cuda_check"].startswith("mismatch")

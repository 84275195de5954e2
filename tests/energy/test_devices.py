"""Which GPUs are metered, in which order, and what else runs on them."""

from __future__ import annotations

import os

import pytest
from energy_fakes import H100_TRACE, VirtualClock

from llem.energy.devices import engine_gpus
from llem.testing.fake_nvml import FakeHandle, FakeNvml, read_trace
from llem.energy.nvml import NvmlMeter
from llem.energy.processes import own_process_tree
from llem.config.spec import build_spec


def spec(backend: dict, gpus: int = 4):
    return build_spec(
        {
            "backend": backend,
            "model": {"name": "tiny", "source": "builtin", "id": "tiny"},
            "hardware": {"name": "h", "device": "cpu", "gpu_count": gpus},
            "energy": {"meter": "none"},
            "workload": {"name": "synthetic", "source": "synthetic", "num_prompts": 2, "input_tokens": 8, "output_tokens": 4},
        }
    )


def test_engines_with_parallel_sizes_meter_exactly_those_gpus(monkeypatch):
    from llem.backends.vllm.config import VllmConfig

    s = spec({"name": "pytorch"}, gpus=4)
    assert engine_gpus(s, "cuda") == [0, 1, 2, 3]  # a device map may use every GPU of the profile
    assert engine_gpus(s, "cpu") == []
    # vLLM with tensor 2 x pipeline 1 on a 4-GPU profile computes on 2 GPUs
    fake = s.model_copy(
        update={"backend": {**VllmConfig().model_dump(), "name": "vllm", "tensor_parallel_size": 2, "pipeline_parallel_size": 1}}
    )
    assert engine_gpus(fake, "cuda") == [0, 1]


def meter_with(processes, mig=False):
    clock = VirtualClock()
    gpu = FakeHandle(0, "GPU-aaaaaaaa-1111-2222-3333-444444444444", processes=processes)
    devices = [gpu]
    visible = None
    if mig:
        devices.append(FakeHandle(0, "MIG-11111111-2222-3333-4444-555555555555", parent=gpu))
        visible = "MIG-11111111-2222-3333-4444-555555555555"
    nvml = FakeNvml(read_trace(H100_TRACE), devices=devices, clock=clock.now, sleep=clock.sleep, start_offset_s=10.0)
    return NvmlMeter([0], nvml=nvml, clock=clock.now, sleep=clock.sleep, visible=visible), clock


def run(m, clock):
    m.begin("w")
    clock.sleep(2.0)
    return m.end("w")


def test_foreign_compute_process_is_a_flag_with_evidence():
    m, clock = meter_with([(os.getpid(), 1024), (999_999_1, 30_000)])
    res = run(m, clock)
    [flag] = res.flags
    assert flag.startswith("foreign_process: gpu0") and "pid 9999991 (30000 MiB)" in flag
    assert str(os.getpid()) not in flag
    assert res.total_j is not None  # measured, and flagged


def test_own_processes_are_not_foreign():
    m, clock = meter_with([(os.getpid(), 1024)])
    assert run(m, clock).flags == []
    assert os.getpid() in own_process_tree()


def test_mig_instance_is_a_flag():
    m, _ = meter_with([], mig=True)
    [flag] = m.describe()["flags"]
    assert flag.startswith("mig: gpu0 is MIG instance") and "whole physical GPU" in flag


@pytest.mark.parametrize("n", [1])
def test_own_tree_includes_children(n):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in own_process_tree()
    finally:
        child.kill()
        child.wait()

"""Which GPUs a job's engine computes on, so that exactly those are metered.

An engine with tensor x pipeline parallel settings uses that many GPUs, the first ones CUDA sees
(its settings model says so through a `gpus_used(spec)` classmethod, asked through its Engine); an engine without one
(transformers with a device map, llama.cpp splitting layers) may use every GPU of the hardware
profile. Jobs run with CUDA_DEVICE_ORDER=PCI_BUS_ID (llem/run/worker.py), so CUDA's index i and
NVML's mapping of CUDA_VISIBLE_DEVICES (llem/energy/nvml_devices.py) name the same physical GPU;
once the engine has loaded, the harness checks that mapping against the UUIDs CUDA reports where the
engine can report them (Backend.cuda_uuids, Meter.check_devices).
"""

from __future__ import annotations

from llem.registry import engine


def engine_gpus(spec, device: str) -> list[int]:
    """The job's logical CUDA indices to meter ([] on CPU)."""
    if device != "cuda":
        return []
    n = engine(spec.backend_name).gpus_used(spec)
    if n is None:
        n = spec.hardware.gpu_count
    return list(range(min(n, spec.hardware.gpu_count)))

"""Energy meters. create_meter() picks one from EnergySpec; engines and sensors are imported lazily."""

from __future__ import annotations

import os

from llem.energy.base import Measurement, Meter
from llem.energy.codecarbon import CodeCarbonMeter
from llem.energy.composite import CompositeMeter, MissingPart
from llem.energy.null import NullMeter
from llem.energy.nvml import REPLAY_ENV, NvmlMeter, NvmlUnavailable
from llem.energy.rapl import RaplMeter, RaplUnavailable
from llem.energy.sampler import Sampler
from llem.energy.zeus import ZeusMeter
from llem.errors import UserError, choice_error

__all__ = ["Measurement", "Meter", "NullMeter", "create_meter", "start_sampler", "metered_gpus"]

NOTHING_HERE = (
    "nothing is measurable here: no NVIDIA GPU via NVML for this job and no readable RAPL "
    "under /sys/class/powercap; time, tokens and latency are measured, energy is not"
)


def faking_gpu() -> bool:
    """True when a replayed NVML trace stands in for a GPU (tests only, see llem/testing/fake_nvml.py)."""
    return bool(os.environ.get(REPLAY_ENV))


def metered_gpus(device: str, gpus: list[int]) -> tuple[str, list[int]]:
    """The device and GPUs a job's meters and GPU settings address."""
    # Test-only: with a replayed NVML trace, a CPU job is metered as if it ran on fake GPU 0.
    if faking_gpu() and not gpus:
        return "cuda", [0]
    return device, gpus


def _nvml_meter(energy, gpus):
    return NvmlMeter(gpus, align=energy.align_edges)


def _rapl_meter():
    return RaplMeter()


def _auto(energy, device: str, gpus: list[int]) -> Meter:
    parts, notes = [], []
    if device == "cuda" and gpus:
        try:
            parts.append(_nvml_meter(energy, gpus))
        except NvmlUnavailable as exc:
            parts.append(MissingPart("nvml", [f"gpu{g}" for g in gpus], f"GPU energy not measured: {exc}"))
    else:
        notes.append("the job runs on CPU: no GPU to meter")
    if energy.include_cpu:
        try:
            parts.append(_rapl_meter())
        except RaplUnavailable as exc:
            notes.append(f"CPU/DRAM not metered: {exc}")
    else:
        notes.append("energy.include_cpu=false: CPU/DRAM not metered")
    if not parts:
        return NullMeter(NOTHING_HERE)
    return CompositeMeter(parts, notes)


def _build(energy, device: str, gpus: list[int]) -> Meter:
    meter = energy.meter
    if meter == "none":
        return NullMeter("energy.meter=none: energy measurement was turned off")
    if meter == "auto":
        return _auto(energy, device, gpus)
    try:
        if meter == "nvml":
            return _nvml_meter(energy, gpus)
        if meter == "rapl":
            return _rapl_meter()
    except Exception as exc:  # validation should have caught it; say it in one sentence anyway
        raise UserError(f"energy={meter} cannot measure here: {exc}") from None
    if meter == "zeus":
        return ZeusMeter(gpus, include_cpu=energy.include_cpu)
    if meter == "codecarbon":
        return CodeCarbonMeter(gpus, country=energy.codecarbon_country)

    raise choice_error("energy.meter", meter, ["auto", "none", "nvml", "rapl", "zeus", "codecarbon"])


def create_meter(energy, device: str, gpus: list[int]) -> Meter:
    """Build the meter the spec asks for. `gpus` are the job's logical CUDA indices."""
    device, gpus = metered_gpus(device, gpus)
    return _build(energy, device, gpus)


def start_sampler(energy, device: str, gpus: list[int], path):
    """Start the time-series sampler process; returns a handle with stop() -> summary dict, or None."""
    device, gpus = metered_gpus(device, gpus)
    if device != "cuda" or not gpus:
        return None

    return Sampler.start(gpus, energy.sample_interval_s, path)

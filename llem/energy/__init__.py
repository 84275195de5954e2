"""Energy meters. create_meter() picks one from EnergySpec; engines and sensors are imported lazily."""

from __future__ import annotations

from llem.energy.base import Measurement, Meter
from llem.energy.null import NullMeter

__all__ = ["Measurement", "Meter", "NullMeter", "create_meter", "start_sampler"]


def create_meter(energy, device: str, gpus: list[int]) -> Meter:
    """Build the meter the spec asks for. `gpus` are the job's logical CUDA indices."""
    if energy.meter == "none":
        return NullMeter("energy.meter=none: energy measurement was turned off")
    if energy.meter == "auto":
        return NullMeter(
            "no energy sensor is readable on this machine (no NVIDIA GPU via NVML, no RAPL under "
            "/sys/class/powercap); time, tokens and latency are measured, energy is not"
        )
    from llem.errors import UserError

    raise UserError(f"energy.meter={energy.meter} is not available yet in this build: use energy=auto or energy=none.")


def start_sampler(energy, device: str, gpus: list[int], path):
    """Start the time-series sampler process; returns a handle with stop() -> summary dict, or None."""
    return None

"""Validation of energy settings before any model loads: one sentence, with the fix, per problem."""

from __future__ import annotations

import importlib.util

from llem.errors import UserError

_EXTRAS = {"zeus": ("zeus", "zeus"), "codecarbon": ("codecarbon", "codecarbon")}


def check_energy(spec) -> None:
    """Raise UserError when the requested meter cannot work on this machine for this job."""
    from llem.checks import resolve_device
    from llem.energy import _faking_gpu

    meter = spec.energy.meter
    if meter in ("auto", "none"):
        return
    if meter in _EXTRAS:
        module, extra = _EXTRAS[meter]
        if importlib.util.find_spec(module) is None:
            raise UserError(f"energy={meter} needs the Python package '{module}', which is not installed: "
                            f"run pip install 'llem[{extra}]' (or use energy=auto).")
        return
    if meter == "nvml":
        if _faking_gpu():  # test-only replayed trace stands in for the GPU
            return
        if resolve_device(spec.hardware.device) != "cuda":
            raise UserError(f"energy=nvml meters the job's NVIDIA GPUs but hardware={spec.hardware.name} runs on "
                            f"CPU: use energy=auto (or energy=rapl for CPU counters) or a GPU hardware profile.")
        from llem.energy.nvml import NvmlUnavailable, init_nvml, load_nvml

        try:
            nvml = load_nvml()
            init_nvml(nvml)
        except NvmlUnavailable as exc:
            raise UserError(f"energy=nvml cannot measure here because {exc}; use energy=auto or energy=none.") from None
        nvml.nvmlShutdown()
        return
    if meter == "rapl":
        from llem.energy.rapl import RaplUnavailable, discover_zones

        try:
            discover_zones()
        except RaplUnavailable as exc:
            raise UserError(f"energy=rapl cannot measure here because {exc}; use energy=auto or energy=none.") from None

"""Validation of energy settings before any model loads: one sentence, with the fix, per problem."""

from __future__ import annotations

import importlib.util

from llem.energy import faking_gpu
from llem.errors import UserError

_EXTRAS = {"zeus": ("zeus", "zeus"), "codecarbon": ("codecarbon", "codecarbon")}


def check_energy(spec) -> None:
    """Raise UserError when the requested meter cannot work on this machine for this job."""
    meter = spec.energy.meter
    if meter in ("auto", "none"):
        return
    if meter in _EXTRAS:
        module, extra = _EXTRAS[meter]
        if importlib.util.find_spec(module) is None:
            raise UserError(
                f"energy={meter} needs the Python package '{module}', which is not installed: "
                f"run pip install 'llem[{extra}]' (or use energy=auto)."
            )
        return
    # Only static checks here: the submitting host (a login node, a laptop driving Docker) is not
    # where the job runs. Whether NVML or RAPL answer is checked in the job, where create_meter()
    # runs before the model loads and raises the same kind of one-sentence error.
    if meter == "nvml" and spec.hardware.device == "cpu" and not faking_gpu():
        raise UserError(
            f"energy=nvml meters the job's NVIDIA GPUs but hardware={spec.hardware.name} runs on "
            f"CPU: use energy=auto (or energy=rapl for CPU counters) or a GPU hardware profile."
        )

"""CodeCarbon adapter (optional extra), strictly offline. Its figures are ESTIMATES.

CodeCarbon models CPU power from a TDP table when it cannot read RAPL, and RAM power from installed
memory size; its keys therefore end in "_estimate" and describe() says so. llem computes CO2e
itself from energy.grid_intensity_g_per_kwh; CodeCarbon's own emissions figure is ignored, and the
country code only satisfies the offline tracker (no network lookup is made).
"""

from __future__ import annotations

import os
from typing import Optional, Union

from llem.energy.base import Measurement, Meter
from llem.errors import UserError
from llem.host.visible_devices import parse_visible_devices

_KWH_TO_J = 3.6e6


def system_gpu_ids(gpus: list[int], visible: Optional[str]) -> list[Union[int, str]]:
    """The job's logical CUDA indices as CodeCarbon's gpu_ids expects them: an integer is an index into all
    the machine's GPUs (NVML's order), so each logical GPU becomes its CUDA_VISIBLE_DEVICES entry (a system
    index, or a UUID, which CodeCarbon matches by prefix); unset, logical and system indices agree."""
    entries = parse_visible_devices(visible)
    if entries is None:
        return list(gpus)
    out: list[Union[int, str]] = []
    for g in gpus:
        if not 0 <= g < len(entries):
            raise UserError(
                f"the job uses GPU {g} but CUDA_VISIBLE_DEVICES={visible} lists {len(entries)} GPU(s): "
                f"CodeCarbon cannot be told which GPU to estimate; list the job's GPUs there."
            )
        out.append(int(entries[g]) if entries[g].isdigit() else entries[g])
    return out


class CodeCarbonMeter(Meter):
    name = "codecarbon"

    def __init__(
        self,
        gpus: list[int],
        country: str | None = None,
        tracker=None,
        output_dir: str | None = None,
        visible: Optional[str] = None,
    ):
        if visible is None:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.system_gpu_ids = system_gpu_ids(list(gpus), visible)
        if tracker is None:
            import tempfile

            from codecarbon import OfflineEmissionsTracker

            tracker = OfflineEmissionsTracker(
                country_iso_code=country or "USA",
                save_to_file=False,
                log_level="error",
                gpu_ids=self.system_gpu_ids or None,
                output_dir=output_dir or tempfile.gettempdir(),
            )
        self.tracker = tracker
        self.country = country
        self.gpus = list(gpus)
        self.tracker.start()

    def begin(self, window: str, align: bool = True) -> None:
        self.tracker.start_task(window)

    def end(self, window: str, align: bool = True) -> Measurement:
        data = self.tracker.stop_task(window)
        energy = {}
        for key, attr in (("cpu_estimate", "cpu_energy"), ("ram_estimate", "ram_energy"), ("gpu_estimate", "gpu_energy")):
            kwh = getattr(data, attr, None)
            if kwh:  # CodeCarbon reports 0 for a device it does not track; that is absence, not 0 J
                energy[key] = float(kwh) * _KWH_TO_J
        total = sum(energy.values()) if energy else None
        reason = None if energy else "CodeCarbon attributed no energy to this window"
        if total is not None and self.gpus and "gpu_estimate" not in energy:
            total = None  # CPU + RAM alone is not the energy of a job that computes on a GPU
            reason = (
                f"CodeCarbon found no GPU for this GPU job (gpus {self.gpus}): its CPU and RAM estimates "
                f"are kept per device, but they are not the job's total"
            )
        return Measurement(meter=self.name, duration_s=float(data.duration), energy_j=energy, total_j=total, reason=reason)

    def describe(self) -> dict:
        return {
            "meter": self.name,
            "estimate": True,
            "measures": "CodeCarbon OfflineEmissionsTracker tasks: CPU and RAM figures are modelled "
            "estimates (TDP/RAM-size models unless CodeCarbon found RAPL), not counter readings",
            "country_iso_code": self.country or "USA (placeholder; CodeCarbon's emissions are not used)",
            "gpu_ids": self.system_gpu_ids,
        }

    def close(self) -> None:
        try:
            self.tracker.stop()
        except Exception:
            pass

"""Zeus adapter (optional extra): ZeusMonitor windows as llem Measurements.

Zeus reads the same NVML energy counter (and RAPL where readable), so on one GPU it should agree
with energy=nvml to the joule. The harness synchronises the device itself, so Zeus is told not to.
"""

from __future__ import annotations

from llem.energy.base import Measurement, Meter


class ZeusMeter(Meter):
    name = "zeus"

    def __init__(self, gpus: list[int], include_cpu: bool = True, monitor=None):
        if monitor is None:
            from zeus.monitor import ZeusMonitor

            # GPU indices are CUDA's (after CUDA_VISIBLE_DEVICES), as in llem.
            monitor = ZeusMonitor(gpu_indices=list(gpus), cpu_indices=None if include_cpu else [])
        self.monitor = monitor
        self.gpus = list(gpus)

    def begin(self, window: str, align: bool = True) -> None:
        self.monitor.begin_window(window, sync_execution=False)

    def end(self, window: str, align: bool = True) -> Measurement:
        z = self.monitor.end_window(window, sync_execution=False)
        energy, reasons = {}, []
        for i, j in (z.gpu_energy or {}).items():
            energy[f"gpu{i}"] = j
        for i, j in (getattr(z, "cpu_energy", None) or {}).items():
            energy[f"cpu-package-{i}"] = j
        for i, j in (getattr(z, "dram_energy", None) or {}).items():
            energy[f"dram-{i}"] = j
        for k, v in energy.items():
            if v is not None and v <= 0:  # Zeus reports 0.0 when the counter did not move
                energy[k] = None
                reasons.append(f"{k}: Zeus reported {v} J (the counter did not move during the window)")
        if not energy:
            reasons.append("Zeus measured no device")
        total = None if not energy or any(v is None for v in energy.values()) else sum(energy.values())
        return Measurement(meter=self.name, duration_s=z.time, energy_j=energy, total_j=total, reason="; ".join(reasons) or None)

    def describe(self) -> dict:
        import importlib.metadata

        try:
            version = importlib.metadata.version("zeus")
        except importlib.metadata.PackageNotFoundError:
            version = None
        return {
            "meter": self.name,
            "zeus_version": version,
            "gpu_indices": self.gpus,
            "measures": "Zeus ZeusMonitor windows (NVML energy counter per GPU; RAPL where readable)",
        }

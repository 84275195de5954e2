"""NVML meter: each job GPU's total-energy counter (mJ since driver load), read at window edges.

Reads happen only in begin()/end(), in the measuring process, after the harness synchronised the
device. Power is never integrated here: the hardware counter is the measurement.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

from llem.energy.base import Measurement, Meter
from llem.energy.counters import join_reasons, measure_update_period
from llem.energy.fake_nvml import fake_from_env
from llem.energy.nvml_devices import GpuMappingError, resolve_gpus


class NvmlUnavailable(Exception):
    """NVML cannot measure here; the message says why in one sentence."""


def load_nvml(env=None):
    """The pynvml module, or the test-only replay fake when LLEM_FAKE_NVML_TRACE is set."""
    fake = fake_from_env(os.environ if env is None else env)
    if fake is not None:
        return fake
    try:
        import pynvml
    except ImportError as exc:
        raise NvmlUnavailable("the Python package nvidia-ml-py (pynvml) is not installed: "
                              "pip install 'llem[nvml]'") from exc
    return pynvml


def init_nvml(nvml) -> None:
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        raise NvmlUnavailable(f"NVML could not start (no NVIDIA driver or GPU here?): {exc}") from exc


class NvmlMeter(Meter):
    name = "nvml"

    def __init__(self, gpus: list[int], nvml=None, visible: Optional[str] = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 calibrate: bool = True):
        if not gpus:
            raise NvmlUnavailable("the job uses no GPU, so there is nothing for NVML to measure")
        self.nvml = nvml if nvml is not None else load_nvml()
        self.clock = clock
        init_nvml(self.nvml)
        if visible is None:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        try:
            self.devices = resolve_gpus(self.nvml, gpus, visible)
        except (GpuMappingError, self.nvml.NVMLError) as exc:
            self.nvml.nvmlShutdown()
            raise NvmlUnavailable(f"cannot map the job's GPUs to NVML devices: {exc}") from exc
        self._open: dict[str, tuple[float, dict]] = {}
        first = self.devices[0].handle
        self.update_period_s = None
        if calibrate:
            self.update_period_s = measure_update_period(
                lambda: self.nvml.nvmlDeviceGetTotalEnergyConsumption(first), clock=clock, sleep=sleep)

    def _read(self) -> tuple[float, dict[str, Optional[int]], dict[str, str]]:
        before = self.clock()
        values, errors = {}, {}
        for d in self.devices:
            try:
                values[d.key] = int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(d.handle))
            except self.nvml.NVMLError as exc:
                values[d.key] = None
                errors[d.key] = f"{d.key}: reading the NVML energy counter failed: {exc}"
        return (before + self.clock()) / 2, values, errors

    def begin(self, window: str) -> None:
        self._open[window] = self._read()

    def end(self, window: str) -> Measurement:
        t1, end_mj, end_err = self._read()
        t0, begin_mj, begin_err = self._open.pop(window)
        duration = t1 - t0
        energy, reasons, raw = {}, [], {}
        for d in self.devices:
            b, e = begin_mj[d.key], end_mj[d.key]
            raw[d.key] = {"begin": b, "end": e, "unit": "mJ"}
            reason = begin_err.get(d.key) or end_err.get(d.key)
            if reason is None and e < b:
                reason = (f"{d.key}: the NVML energy counter went backwards ({b} -> {e} mJ): it was reset "
                          f"(driver reload?) during the window, which is therefore not measured")
            if reason is None and self.update_period_s and duration < self.update_period_s:
                reason = (f"{d.key}: the window ({duration * 1e3:.0f} ms) is shorter than one counter update "
                          f"({self.update_period_s * 1e3:.0f} ms), so the counter cannot resolve it")
            energy[d.key] = None if reason else (e - b) / 1000.0
            reasons.append(reason)
        total = None if any(v is None for v in energy.values()) else sum(energy.values())
        return Measurement(meter=self.name, duration_s=duration, energy_j=energy, total_j=total,
                           reason=join_reasons(reasons), update_period_s=self.update_period_s, raw=raw)

    def describe(self) -> dict:
        return {
            "meter": self.name,
            "measures": "NVIDIA GPU total-energy counter (nvmlDeviceGetTotalEnergyConsumption), per job GPU, "
                        "read at window edges after a device synchronize",
            "devices": {d.key: {"uuid": d.uuid, "visible_as": d.visible_as, "mig_uuid": d.mig_uuid} for d in self.devices},
            "update_period_s": self.update_period_s,
            "update_period_measured": self.update_period_s is not None,
            "caveats": [c for c in (d.caveat for d in self.devices) if c],
        }

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass

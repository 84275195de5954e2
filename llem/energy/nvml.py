"""NVML meter: each job GPU's total-energy counter (mJ since driver load), read at window edges.

Reads happen only in begin()/end(), in the measuring process, after the harness synchronised the
device. Power is never integrated here: the hardware counter is the measurement.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

from llem.energy.align import read_now, sum_ranges, wait_for_updates
from llem.energy.base import Measurement, Meter
from llem.energy.counters import join_reasons, measure_update_period
from llem.energy.nvml_window import device_window
from llem.energy.processes import foreign_process_flags, own_process_tree
from llem.energy.nvml_devices import GpuMappingError, check_against_cuda, resolve_gpus
from llem.registry import load_object

# The one test hook: where this variable names a recorded NVML trace, its replay (a test double, imported
# only then) stands in for pynvml, for end-to-end tests on machines without a GPU.
REPLAY_ENV = "LLEM_FAKE_NVML_TRACE"
REPLAY_HOOK = "llem.testing.fake_nvml:fake_from_env"


class NvmlUnavailable(Exception):
    """NVML cannot measure here; the message says why in one sentence."""


def load_nvml(env=None):
    """The pynvml module, or the test-only replay fake when LLEM_FAKE_NVML_TRACE is set."""
    env = os.environ if env is None else env
    if env.get(REPLAY_ENV):
        return load_object(REPLAY_HOOK)(env)
    try:
        import pynvml
    except ImportError as exc:
        raise NvmlUnavailable("the Python package nvidia-ml-py (pynvml) is not installed: pip install 'llem[nvml]'") from exc
    return pynvml


def init_nvml(nvml) -> None:
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        raise NvmlUnavailable(f"NVML could not start (no NVIDIA driver or GPU here?): {exc}") from exc


class NvmlMeter(Meter):
    name = "nvml"

    def __init__(
        self,
        gpus: list[int],
        nvml=None,
        visible: Optional[str] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        calibrate: bool = True,
        align: bool = True,
        wall: Callable[[], float] = time.time,
    ):
        if not gpus:
            raise NvmlUnavailable("the job uses no GPU, so there is nothing for NVML to measure")
        self.nvml = nvml if nvml is not None else load_nvml()
        self.clock, self.sleep, self.wall = clock, sleep, wall
        init_nvml(self.nvml)
        if visible is None:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        try:
            self.devices = resolve_gpus(self.nvml, gpus, visible)
            self._probe()
        except (GpuMappingError, self.nvml.NVMLError) as exc:
            self.nvml.nvmlShutdown()
            raise NvmlUnavailable(f"cannot map the job's GPUs to NVML devices: {exc}") from exc
        except NvmlUnavailable:
            self.nvml.nvmlShutdown()
            raise
        self._open: dict[str, tuple[dict, float, float]] = {}
        self.baseline_w: Optional[dict] = None
        first = self.devices[0].handle
        self.update_period_s = None
        if calibrate:
            self.update_period_s = measure_update_period(
                lambda: self.nvml.nvmlDeviceGetTotalEnergyConsumption(first), clock=clock, sleep=sleep
            )
        self.align = bool(align and self.update_period_s)
        self.align_note = (
            None
            if self.align
            else ("energy.align_edges=false" if not align else "the counter's update period is unknown: edges not aligned")
        )

    def _probe(self) -> None:
        """Every job GPU's energy counter answers, or NvmlUnavailable says which does not (pre-Volta
        GPUs, some vGPU and MIG set-ups)."""
        for d in self.devices:
            try:
                self.nvml.nvmlDeviceGetTotalEnergyConsumption(d.handle)
            except self.nvml.NVMLError as exc:
                raise NvmlUnavailable(
                    f"{d.key} ({d.uuid}) has no readable NVML energy counter (nvmlDeviceGetTotalEnergyConsumption: {exc})"
                ) from exc

    def _reads(self) -> dict:
        return {d.key: (lambda h=d.handle: self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for d in self.devices}

    def _edges(self, align: bool) -> dict:
        if align and self.align:
            return wait_for_updates(self._reads(), self.clock, self.sleep, 1.5 * self.update_period_s + 0.05)
        return read_now(self._reads(), self.clock)

    def set_baseline(self, power_w_per_device: Optional[dict]) -> None:
        self.baseline_w = dict(power_w_per_device) if power_w_per_device else None

    def begin(self, window: str, align: bool = True) -> None:
        edges = self._edges(align)
        self._open[window] = (edges, self.clock(), self.wall())

    def end(self, window: str, align: bool = True) -> Measurement:
        t_call, unix_call = self.clock(), self.wall()
        end_edges = self._edges(align)
        begin_edges, t_start, unix_start = self._open.pop(window)
        parts = [
            device_window(
                d.key,
                begin_edges[d.key],
                end_edges[d.key],
                t_start,
                t_call,
                (self.baseline_w or {}).get(d.key),
                self.update_period_s,
            )
            for d in self.devices
        ]
        energy = {p.key: p.energy_j for p in parts}
        total = None if any(v is None for v in energy.values()) else sum(energy.values())
        first = parts[0]
        start, stop = first.interval
        return Measurement(
            meter=self.name,
            duration_s=stop - start,
            energy_j=energy,
            total_j=total,
            reason=join_reasons(p.reason for p in parts),
            update_period_s=self.update_period_s,
            raw={p.key: p.raw for p in parts},
            interval_monotonic_s=[start, stop],
            interval_unix_s=[unix_start + (start - t_start), unix_call + (stop - t_call)],
            alignment={p.key: p.alignment for p in parts},
            residual_j=sum_ranges([p.residual for p in parts]) if total is not None else None,
            flags=foreign_process_flags(self.nvml, self.devices, own_process_tree()),
        )

    def check_devices(self, cuda_uuids) -> list[str]:
        """The engine's CUDA device UUIDs (or None) against the mapping; flags for mismatches."""
        try:
            return check_against_cuda(self.nvml, self.devices, cuda_uuids)
        except GpuMappingError as exc:  # CUDA names a GPU NVML does not know: keep the mapping, say so
            return [
                f"gpu_mapping: CUDA reports device UUIDs {cuda_uuids} that NVML cannot match ({exc}); "
                "energy stays metered on the CUDA_VISIBLE_DEVICES mapping"
            ]

    def describe(self) -> dict:
        return {
            "meter": self.name,
            "measures": "NVIDIA GPU total-energy counter (nvmlDeviceGetTotalEnergyConsumption), per job GPU, "
            "read at window edges after a device synchronize",
            "devices": {
                d.key: {
                    "uuid": d.uuid,
                    "visible_as": d.visible_as,
                    "mig_uuid": d.mig_uuid,
                    **({"cuda_check": d.cuda_check} if d.cuda_check else {}),
                }
                for d in self.devices
            },
            "update_period_s": self.update_period_s,
            "update_period_measured": self.update_period_s is not None,
            "align_edges": self.align,
            "align_note": self.align_note,
            "caveats": [c for c in (d.caveat for d in self.devices) if c],
            # questionable set-ups, raised to validity flags (llem/results/schema.py)
            "flags": [f"mig: {c}" for c in (d.caveat for d in self.devices) if c],
        }

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass

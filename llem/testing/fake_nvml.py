"""TEST SUPPORT ONLY: a stand-in for the `pynvml` module that replays a recorded NVML trace.

It implements the subset of pynvml's API that llem calls, with the same names and constants, so a
meter given this object runs exactly the code it runs against a real GPU. Values come from a CSV
trace (columns as in tests/data/nvml_trace_h100.csv) replayed by elapsed time on an injectable
clock: the energy counter moves in the trace's real steps (~100 ms on an H100), and a counter
reset (driver reload) can be injected.

The only production-path hook is `LLEM_FAKE_NVML_TRACE=<csv>` (see llem.energy.nvml.load_nvml),
meant for end-to-end tests on machines without a GPU. Never set it for a real measurement.
"""

from __future__ import annotations

import bisect
import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from llem.testing.fake_gpu_settings import LIMIT_RANGE_MW, FakeGpuSettings

FAKE_TRACE_ENV = "LLEM_FAKE_NVML_TRACE"
# Optional: the CLOCK_MONOTONIC instant at which the trace starts, so that several processes (the
# meter, the sampler, an independent poller) replay the same moment of it. Unset: each process
# starts the trace at its own first nvmlInit.
FAKE_EPOCH_ENV = "LLEM_FAKE_NVML_EPOCH"
# Optional: one energy scale per fake GPU, e.g. "1,2": two GPUs, the second drawing twice the
# trace's power (jobs on disjoint GPUs, each metering its own). Unset: one GPU at the trace's power.
FAKE_GPUS_ENV = "LLEM_FAKE_NVML_GPUS"


NVML_ERROR_NOT_SUPPORTED = 3  # pynvml's code for "Not Supported"
_MESSAGES = {NVML_ERROR_NOT_SUPPORTED: "Not Supported"}


class NVMLError(Exception):
    """Same role as pynvml.NVMLError: built from a code (`.value`, str() is NVML's message) or a message."""

    def __init__(self, value):
        self.value = value
        super().__init__(_MESSAGES.get(value, value) if isinstance(value, int) else value)


@dataclass
class TraceRow:
    t_s: float
    energy_mj: int
    power_instant_mw: int
    power_avg_mw: int
    temp_c: int
    sm_clock_mhz: int
    throttle_reasons: int
    mem_used_mib: int


def read_trace(path) -> list[TraceRow]:
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append(
                TraceRow(
                    float(r["t_s"]),
                    int(r["energy_mj"]),
                    int(r["power_instant_mw"]),
                    int(r["power_avg_mw"]),
                    int(r["temp_c"]),
                    int(r["sm_clock_mhz"]),
                    int(r["throttle_reasons"]),
                    int(r["mem_used_mib"]),
                )
            )
    if not rows:
        raise ValueError(f"{path}: empty NVML trace")
    return rows


@dataclass
class FakeHandle:
    index: int
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3 (fake, replayed trace)"
    parent: Optional["FakeHandle"] = None  # set for MIG instances
    energy_scale: float = 1.0  # lets a second fake GPU draw a different power than the first
    reset_at_s: Optional[float] = None  # counter restarts from 0 at this trace time (driver reload)
    energy_supported: bool = True  # False: the energy counter answers NOT_SUPPORTED (pre-Volta, some vGPU)
    throttle_readable: bool = True  # False: clock-event reasons answer NOT_SUPPORTED
    # Compute processes NVML lists on this GPU: (pid, used GPU memory in MiB)
    processes: list = field(default_factory=list)


@dataclass
class _FieldValue:
    fieldId: int
    nvmlReturn: int
    valueType: int
    value: object


@dataclass
class _Value:
    uiVal: int = 0
    ullVal: int = 0
    dVal: float = 0.0


@dataclass
class _Process:
    pid: int
    usedGpuMemory: int


@dataclass
class _Memory:
    total: int
    used: int
    free: int


@dataclass
class FakeNvml:
    """Module-like object: `FakeNvml(rows).nvmlDeviceGetTotalEnergyConsumption(h)` etc."""

    rows: list[TraceRow]
    devices: list[FakeHandle] = field(default_factory=lambda: [FakeHandle(0, "GPU-fake0000-0000-0000-0000-000000000000")])
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    read_cost_s: float = 0.0  # an energy-counter read takes ~3.9 ms on the H100 we measured
    loop: bool = True  # past the end, the trace repeats with the counter still increasing
    start_offset_s: float = 0.0  # where in the trace time zero falls
    fail_init: Optional[str] = None  # make nvmlInit raise (no driver)
    reads: int = 0  # energy-counter reads so far (tests check edge-only reading)
    epoch: Optional[float] = None  # clock() value at which trace time 0 falls (see FAKE_EPOCH_ENV)

    NVMLError = NVMLError
    NVML_SUCCESS = 0
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION = 83
    NVML_FI_DEV_POWER_INSTANT = 186
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_VALUE_TYPE_DOUBLE = 0
    NVML_VALUE_TYPE_UNSIGNED_INT = 1
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
    NVML_FEATURE_ENABLED = 1

    def __post_init__(self):
        self._t = [r.t_s for r in self.rows]
        self._t0: Optional[float] = self.epoch
        self._inited = 0

    @classmethod
    def from_csv(cls, path, **kw) -> "FakeNvml":
        return cls(read_trace(Path(path)), **kw)

    # --- the trace, by time -------------------------------------------------------------------
    def trace_time(self) -> float:
        if self._t0 is None:
            self._t0 = self.clock()
        return self.clock() - self._t0 + self.start_offset_s

    def _row(self, t: float) -> tuple[TraceRow, int]:
        """The row in effect at trace time t, and how many whole loops came before it."""
        span = self._t[-1] - self._t[0]
        laps = 0
        if t > self._t[-1] and self.loop and span > 0:
            laps = int((t - self._t[0]) // span)
            t = t - laps * span
        i = max(0, bisect.bisect_right(self._t, t) - 1)
        return self.rows[i], laps

    def _energy_mj(self, h: FakeHandle, t: float) -> int:
        row, laps = self._row(t)
        lap_mj = self.rows[-1].energy_mj - self.rows[0].energy_mj
        e = (row.energy_mj + laps * lap_mj) * h.energy_scale
        if h.reset_at_s is not None and t >= h.reset_at_s:
            r0, l0 = self._row(h.reset_at_s)
            e -= (r0.energy_mj + l0 * lap_mj) * h.energy_scale
        return int(e)

    def _phys(self, h: FakeHandle) -> FakeHandle:
        return h.parent or h

    def _check(self):
        if not self._inited:
            raise NVMLError("Uninitialized")

    # --- pynvml API subset --------------------------------------------------------------------
    def nvmlInit(self):
        if self.fail_init:
            raise NVMLError(self.fail_init)
        self._inited += 1
        self.trace_time()

    def nvmlShutdown(self):
        self._inited = max(0, self._inited - 1)

    def nvmlDeviceGetCount(self):
        self._check()
        return len([d for d in self.devices if d.parent is None])

    def nvmlDeviceGetHandleByIndex(self, i):
        self._check()
        phys = [d for d in self.devices if d.parent is None]
        if not 0 <= i < len(phys):
            raise NVMLError("Invalid Argument")
        return phys[i]

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self._check()
        for d in self.devices:
            if d.uuid == uuid:
                return d
        raise NVMLError("Not Found")

    def nvmlDeviceGetUUID(self, h):
        return h.uuid

    def nvmlDeviceGetIndex(self, h):
        return self._phys(h).index

    def nvmlDeviceGetName(self, h):
        return self._phys(h).name

    def nvmlDeviceIsMigDeviceHandle(self, h):
        return h.parent is not None

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        self._check()
        return 7  # an H100/H200: up to 7 MIG instances, whether or not any exist

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, index):
        self._check()
        children = [d for d in self.devices if d.parent is h]
        if not 0 <= index < len(children):
            raise NVMLError("Not Found")  # an empty slot, as real NVML answers
        return children[index]

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, h):
        if h.parent is None:
            raise NVMLError("Invalid Argument")
        return h.parent

    def _physical_only(self, h: FakeHandle) -> None:
        # As real NVML: a MIG instance has no energy counter or power reading of its own.
        if h.parent is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self._check()
        self._physical_only(h)
        if not self._phys(h).energy_supported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        self.reads += 1
        if self.read_cost_s:
            self.sleep(self.read_cost_s / 2)
        v = self._energy_mj(self._phys(h), self.trace_time())
        if self.read_cost_s:
            self.sleep(self.read_cost_s / 2)
        return v

    def nvmlDeviceGetFieldValues(self, h, field_ids):
        row, _ = self._row(self.trace_time())
        out = []
        for fid in field_ids:
            if fid == self.NVML_FI_DEV_POWER_INSTANT:
                mw = int(row.power_instant_mw * self._phys(h).energy_scale)
                out.append(_FieldValue(fid, 0, self.NVML_VALUE_TYPE_UNSIGNED_INT, _Value(uiVal=mw)))
            elif fid == self.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION:
                e = self.nvmlDeviceGetTotalEnergyConsumption(h)
                out.append(_FieldValue(fid, 0, self.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG, _Value(ullVal=e)))
            else:
                out.append(_FieldValue(fid, 3, 0, _Value()))  # NVML_ERROR_NOT_SUPPORTED
        return out

    def nvmlDeviceGetPowerUsage(self, h):
        self._physical_only(h)
        return int(self._row(self.trace_time())[0].power_avg_mw * self._phys(h).energy_scale)

    def nvmlDeviceGetTemperature(self, h, sensor):
        return self._row(self.trace_time())[0].temp_c

    def nvmlDeviceGetClockInfo(self, h, clock_type):
        return self._row(self.trace_time())[0].sm_clock_mhz if clock_type == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetMaxClockInfo(self, h, clock_type):
        return 1980 if clock_type == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        if not self._phys(h).throttle_readable:
            raise NVMLError("Not Supported")
        return self._row(self.trace_time())[0].throttle_reasons

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [_Process(pid, int(mib * 2**20)) for pid, mib in self._phys(h).processes]

    def nvmlDeviceGetMemoryInfo(self, h):
        used = self._row(self.trace_time())[0].mem_used_mib * 2**20
        total = 81559 * 2**20
        return _Memory(total=total, used=used, free=total - used)

    # power limit and locked clocks: settable, shared across processes (llem/testing/fake_gpu_settings.py)
    def _settings(self) -> FakeGpuSettings:
        if not hasattr(self, "_gpu_settings"):
            self._gpu_settings = FakeGpuSettings.from_env(NVMLError)
        return self._gpu_settings

    def nvmlDeviceGetPowerManagementLimit(self, h):
        return self._settings().get(self._phys(h).uuid)["power_limit_mw"]

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return self.nvmlDeviceGetPowerManagementLimit(h)

    def nvmlDeviceGetPowerManagementLimitConstraints(self, h):
        return LIMIT_RANGE_MW

    def nvmlDeviceSetPowerManagementLimit(self, h, limit_mw):
        lo, hi = LIMIT_RANGE_MW
        if not lo <= limit_mw <= hi:
            raise NVMLError("Invalid Argument")
        self._settings().set(self._phys(h).uuid, power_limit_mw=int(limit_mw))

    def nvmlDeviceSetGpuLockedClocks(self, h, min_mhz, max_mhz):
        self._settings().set(self._phys(h).uuid, sm_locked=[min_mhz, max_mhz])

    def nvmlDeviceResetGpuLockedClocks(self, h):
        self._settings().set(self._phys(h).uuid, sm_locked=None)

    def nvmlDeviceSetMemoryLockedClocks(self, h, min_mhz, max_mhz):
        self._settings().set(self._phys(h).uuid, mem_locked=[min_mhz, max_mhz])

    def nvmlDeviceResetMemoryLockedClocks(self, h):
        self._settings().set(self._phys(h).uuid, mem_locked=None)

    def nvmlDeviceGetPersistenceMode(self, h):
        return 1

    def nvmlDeviceGetEccMode(self, h):
        return (1, 1)

    def nvmlDeviceGetMigMode(self, h):
        return (1, 1) if any(d.parent is self._phys(h) for d in self.devices) else (0, 0)

    def nvmlSystemGetDriverVersion(self):
        return "580.159.04"

    def nvmlSystemGetCudaDriverVersion(self):
        return 13000


def fake_from_env(env) -> Optional[FakeNvml]:
    """The FakeNvml that LLEM_FAKE_NVML_TRACE asks for (test-only hook), or None."""
    path = env.get(FAKE_TRACE_ENV)
    if not path:
        return None
    epoch = env.get(FAKE_EPOCH_ENV)
    return FakeNvml.from_csv(path, epoch=float(epoch) if epoch else None, devices=fake_devices(env.get(FAKE_GPUS_ENV)))


def fake_devices(scales: Optional[str]) -> list[FakeHandle]:
    """The fake GPUs LLEM_FAKE_NVML_GPUS asks for, in NVML (PCI) order, each with its own UUID."""
    values = [float(x) for x in (scales or "1").split(",") if x.strip()]
    return [FakeHandle(i, f"GPU-fake{i:04d}-0000-0000-0000-000000000000", energy_scale=v) for i, v in enumerate(values)]

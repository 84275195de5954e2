"""Time series of GPU power, temperature, SM clock, throttle reasons and memory, in its own process.

The sampler is a spawned process that opens NVML itself, so its polling never competes with the
inference thread for the GIL. It writes <run_dir>/timeseries.csv (one row per device per sample,
absolute unix time so windows can be located in it) and returns a plain summary when stopped.
Power here is NVML_FI_DEV_POWER_INSTANT, for plots and sanity checks: joules come from the
energy counter, never from integrating these samples.
"""

from __future__ import annotations

import csv
import ctypes
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path
from typing import Optional

from llem.energy.nvml import init_nvml, load_nvml
from llem.energy.nvml_devices import resolve_gpus
from llem.host.interrupt import ignore_signals, spawning
from llem.paths import TIMESERIES as FILE_NAME

COLUMNS = [
    "t_unix_s",
    "device",
    "power_w",
    "temperature_c",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "throttle_reasons",
    "power_limit_w",
    "memory_used_mib",
]
# Clock-event reasons that are not throttling: GPU idle, application clocks set, display clock.
NOT_THROTTLE = 0x1 | 0x2 | 0x100
REASON_NAMES = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal",
    0x40: "hw_thermal",
    0x80: "hw_power_brake",
}


def reason_names(bits: int) -> list[str]:
    """Throttling reasons (clock-event bits that are not throttling left out); unknown bits by hex."""
    bits &= ~NOT_THROTTLE
    names = [n for b, n in REASON_NAMES.items() if bits & b]
    rest = bits & ~sum(REASON_NAMES)
    return names + ([f"0x{rest:x}"] if rest else [])


def _field_value(nvml, v) -> Optional[float]:
    if getattr(v, "nvmlReturn", 1) != 0:
        return None
    t = v.valueType
    if t == nvml.NVML_VALUE_TYPE_DOUBLE:
        return v.value.dVal
    if t == nvml.NVML_VALUE_TYPE_UNSIGNED_INT:
        return v.value.uiVal
    return v.value.ullVal


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception:
        return None


def read_sample(nvml, handle) -> dict:
    """One sample of one GPU; a value that cannot be read is None."""
    vals = _safe(nvml.nvmlDeviceGetFieldValues, handle, [nvml.NVML_FI_DEV_POWER_INSTANT])
    mw = _field_value(nvml, vals[0]) if vals else None
    reasons_fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        nvml, "nvmlDeviceGetCurrentClocksThrottleReasons"
    )
    mem = _safe(nvml.nvmlDeviceGetMemoryInfo, handle)
    limit = _safe(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    return {
        "power_w": None if mw is None else mw / 1000.0,
        "temperature_c": _safe(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
        "sm_clock_mhz": _safe(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM),
        "mem_clock_mhz": _safe(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM),
        "throttle_reasons": _safe(reasons_fn, handle),  # None: unreadable, which is not "not throttled"
        "power_limit_w": None if limit is None else limit / 1000.0,
        "memory_used_mib": None if mem is None else mem.used / 2**20,
    }


def summarize_rows(rows: list[dict]) -> dict:
    """Summary of timeseries rows (as read_sample + t_unix_s + device)."""
    by_t: dict[float, list[dict]] = {}
    for r in rows:
        by_t.setdefault(r["t_unix_s"], []).append(r)
    times = sorted(by_t)
    totals = []
    for t in times:
        ps = [r["power_w"] for r in by_t[t]]
        totals.append(None if any(p is None for p in ps) else sum(ps))
    known = [p for p in totals if p is not None]
    temps = [r["temperature_c"] for r in rows if r["temperature_c"] is not None]
    throttled_s, unknown_s, seen = 0.0, 0.0, set()
    for t, t_next in zip(times, times[1:]):
        bits, unknown = 0, False
        for r in by_t[t]:
            if r.get("throttle_reasons") is None:
                unknown = True
            else:
                bits |= int(r["throttle_reasons"]) & ~NOT_THROTTLE
        if bits:
            throttled_s += t_next - t
            seen.update(reason_names(bits))
        elif unknown:
            unknown_s += t_next - t

    def temp_at(t):
        vs = [r["temperature_c"] for r in by_t[t] if r["temperature_c"] is not None]
        return max(vs) if vs else None

    return {
        "samples": len(times),
        "duration_s": times[-1] - times[0] if times else 0.0,
        "peak_power_w": max(known) if known else None,
        "mean_power_w": sum(known) / len(known) if known else None,
        "max_temperature_c": max(temps) if temps else None,
        "temperature_c_start": temp_at(times[0]) if times else None,
        "temperature_c_end": temp_at(times[-1]) if times else None,
        # None when the reasons could not be read at all: unknown is not "not throttled"
        "throttled_s": None if unknown_s and not throttled_s and unknown_s >= (times[-1] - times[0]) else throttled_s,
        "throttle_unknown_s": unknown_s,
        "throttle_reasons_seen": sorted(seen),
        "power_source": "NVML_FI_DEV_POWER_INSTANT (for plots; energy comes from the counter)",
    }


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG), so a worker that
    is SIGKILLed (run.timeout_s, the OOM killer) leaves no sampler behind. The parent may already
    be gone by the time this runs; the sampling loop also checks os.getppid() for that case and on
    systems without prctl."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _run(conn, stop, gpus: list[int], interval_s: float, path: str, parent_pid: int) -> None:
    """The sampler process body. A signal to llem's process group leaves it to its parent, which
    stops it (llem/host/interrupt.py); it dies with its parent."""
    ignore_signals()
    die_with_parent(parent_pid)
    try:
        nvml = load_nvml()
        init_nvml(nvml)
        devices = resolve_gpus(nvml, gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
    except Exception as exc:
        conn.send(("error", f"the sampler could not open NVML: {exc}"))
        return
    rows: list[dict] = []
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        conn.send(("ready", None))
        next_t = time.monotonic()
        while not stop.is_set():
            if os.getppid() != parent_pid:  # orphaned (no prctl here): nobody will ever stop us
                os._exit(1)
            t = time.time()
            for d in devices:
                row = {"t_unix_s": t, "device": d.key, **read_sample(nvml, d.handle)}
                rows.append(row)
                w.writerow(row)
            f.flush()
            next_t += interval_s
            stop.wait(max(0.0, next_t - time.monotonic()))
    nvml.nvmlShutdown()
    conn.send(("summary", summarize_rows(rows)))


class Sampler:
    """Handle of a running sampler process."""

    def __init__(self, proc, conn, stop, run_dir: Path, error: Optional[str] = None):
        self.proc, self.conn, self._stop, self.run_dir, self.error = proc, conn, stop, run_dir, error

    @classmethod
    def start(cls, gpus: list[int], interval_s: float, run_dir, timeout_s: float = 60.0) -> "Sampler":
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        stop = ctx.Event()
        proc = ctx.Process(
            target=_run,
            args=(child, stop, list(gpus), interval_s, str(run_dir / FILE_NAME), os.getpid()),
            name="llem-sampler",
            daemon=True,
        )
        with spawning():  # born ignoring SIGINT/SIGTERM: its parent stops it
            proc.start()
        child.close()
        error = None
        if not parent.poll(timeout_s):
            error = f"the sampler process did not start within {timeout_s:g} s"
        else:
            try:
                status, msg = parent.recv()
            except EOFError:
                status, msg = "error", "the sampler process died while starting"
            if status != "ready":
                error = msg
        if error:
            stop.set()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        return cls(proc, parent, stop, run_dir, error)

    def stop(self, timeout_s: float = 30.0) -> dict:
        """Stop sampling; the summary (file relative to run_dir), or file None with a reason."""
        if self.error:
            return {"file": None, "samples": 0, "reason": self.error}
        self._stop.set()
        summary, reason = None, None
        if self.conn.poll(timeout_s):
            try:
                status, summary = self.conn.recv()
            except EOFError:
                reason = "the sampler process died before reporting"
        else:
            reason = f"the sampler did not report within {timeout_s:g} s"
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        if summary is None:
            return {"file": FILE_NAME if (self.run_dir / FILE_NAME).exists() else None, "samples": None, "reason": reason}
        return {"file": FILE_NAME, **summary}

"""Per-window GPU conditions from the sampler's time series, sliced to each window's edges.

The sampler (llem/energy/sampler.py) writes one row per GPU per instant, on the wall clock; each
window's joules cover an interval the meter states on the same clock (Measurement.interval_unix_s).
Here each window gets its mean and peak instant power, the energy integrated from instant power
(each sample held until the next) and its ratio to the counter's joules, SM and memory clocks,
temperature at its start and end, the power limit, and seconds per throttle reason. Instant power is
a cross-check only: joules come from the energy counter.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

from llem.energy.sampler import COLUMNS, NOT_THROTTLE, reason_names

MIN_SAMPLES_FOR_RATIO = 10  # fewer instant-power samples than this: no agreement check


def read_timeseries(path: Path) -> list[dict]:
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = {"device": r["device"]}
            for k in COLUMNS:
                if k != "device":
                    v = r.get(k)
                    row[k] = None if v in (None, "") else float(v)
            rows.append(row)
    return rows


def instants(rows: list[dict]) -> list[tuple[float, list[dict]]]:
    by_t: dict[float, list[dict]] = {}
    for r in rows:
        by_t.setdefault(r["t_unix_s"], []).append(r)
    return sorted(by_t.items())


def _total_power(rs: list[dict]) -> Optional[float]:
    ps = [r["power_w"] for r in rs]
    return None if any(p is None for p in ps) else sum(ps)


def _spans(series, start: float, end: float):
    """(instant rows, seconds of [start, end] that instant holds for), sample-and-hold."""
    for i, (t, rs) in enumerate(series):
        t_next = series[i + 1][0] if i + 1 < len(series) else t
        lo, hi = max(t, start), min(t_next, end)
        if hi > lo:
            yield rs, hi - lo


def _stats(values) -> tuple[Optional[float], Optional[float]]:
    vs = [v for v in values if v is not None]
    return (sum(vs) / len(vs), min(vs)) if vs else (None, None)


def _throttle(series, start: float, end: float) -> tuple[dict, float]:
    seconds: dict[str, float] = {}
    unknown = 0.0
    for rs, dt in _spans(series, start, end):
        bits = [r["throttle_reasons"] for r in rs]
        if any(b is None for b in bits):
            unknown += dt
        for b in bits:
            if b is not None and int(b) & ~NOT_THROTTLE:
                for name in reason_names(int(b)):
                    seconds[name] = seconds.get(name, 0.0) + dt
                break
    return seconds, unknown


def window_conditions(series, start: float, end: float, counter_gpu_j: Optional[float]) -> dict:
    inside = [(t, rs) for t, rs in series if start <= t <= end]
    if len(inside) < 2:
        return {"samples": len(inside), "reason": f"{len(inside)} sampler instant(s) inside the window: too few"}
    powers = [p for p in (_total_power(rs) for _, rs in inside) if p is not None]
    inst_j, covered = 0.0, 0.0
    for rs, dt in _spans(series, start, end):
        p = _total_power(rs)
        if p is not None:
            inst_j, covered = inst_j + p * dt, covered + dt
    rows = [r for _, rs in inside for r in rs]
    sm_mean, sm_min = _stats(r["sm_clock_mhz"] for r in rows)
    mem_mean, mem_min = _stats(r["mem_clock_mhz"] for r in rows)
    throttled, unknown = _throttle(series, start, end)
    limits: dict[str, float] = {}
    for r in rows:
        if r["power_limit_w"] is not None:
            limits[r["device"]] = min(limits.get(r["device"], r["power_limit_w"]), r["power_limit_w"])

    def temp(rs):
        ts = [r["temperature_c"] for r in rs if r["temperature_c"] is not None]
        return max(ts) if ts else None

    ratio = inst_j / counter_gpu_j if counter_gpu_j and covered >= 0.9 * (end - start) else None
    return {
        "samples": len(inside),
        "mean_power_w": inst_j / covered if covered else None,
        "peak_power_w": max(powers) if powers else None,
        "instant_power_energy_j": inst_j if covered else None,
        "instant_to_counter_ratio": ratio,
        "sm_clock_mhz_mean": sm_mean,
        "sm_clock_mhz_min": sm_min,
        "mem_clock_mhz_mean": mem_mean,
        "mem_clock_mhz_min": mem_min,
        "temperature_c_start": temp(inside[0][1]),
        "temperature_c_end": temp(inside[-1][1]),
        "power_limit_w": limits or None,
        "throttled_s": throttled,  # per reason; {} = not throttled; see throttle_unknown_s
        "throttle_unknown_s": unknown,
    }


def split_summary(series, intervals: list[tuple[float, float]]) -> dict:
    """Sampler time inside the measured windows vs outside them (baselines, cooldowns, idle)."""
    acc = {"windows": [0.0, 0.0, 0.0, None], "outside_windows": [0.0, 0.0, 0.0, None]}  # s, J, throttled s, peak
    for i, (t, rs) in enumerate(series[:-1]):
        dt, mid = series[i + 1][0] - t, (t + series[i + 1][0]) / 2
        part = acc["windows" if any(a <= mid <= b for a, b in intervals) else "outside_windows"]
        p = _total_power(rs)
        part[0] += dt
        if p is not None:
            part[1] += p * dt
            part[3] = p if part[3] is None else max(part[3], p)
        if any(r["throttle_reasons"] is not None and int(r["throttle_reasons"]) & ~NOT_THROTTLE for r in rs):
            part[2] += dt
    return {
        k: {"seconds": s, "mean_power_w": j / s if s else None, "peak_power_w": peak, "throttled_s": th}
        for k, (s, j, th, peak) in acc.items()
    }

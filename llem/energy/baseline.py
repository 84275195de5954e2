"""The idle-baseline protocol: settle, measure with the model loaded, measure again after the windows.

1. Settle: right after warm-up a GPU's idle power is still falling (clocks and fans ramping down,
   the last kernels' heat). Consecutive short idle windows are measured until one is not lower
   than the one before by more than SETTLE_TOLERANCE, for at most energy.settle_max_s.
2. Baseline: idle power over max(energy.baseline_s, energy.baseline_min_updates counter updates);
   with aligned edges (NVML) this window runs from one counter update to another. The meter is
   then given this power (per device) to correct its aligned end edges.
3. After the last window, a second baseline (settled the same way); the drift between the two is
   reported and flagged above energy.baseline_drift_max. Dynamic energy uses the first one.
A meter that measures nothing (a CPU job on a machine without sensors) costs no time here.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

SETTLE_TOLERANCE = 0.01  # relative: "stopped falling"
SETTLE_CHUNK_UPDATES = 10  # counter updates per settling window (and at least SETTLE_CHUNK_MIN_S)
SETTLE_CHUNK_MIN_S = 0.5

Progress = Callable[[str], None]


def update_period_of(meter) -> Optional[float]:
    """The coarsest counter update period a meter knows of (None: unknown)."""
    if getattr(meter, "inner", None) is not None:
        return update_period_of(meter.inner)
    if getattr(meter, "parts", None):
        periods = [update_period_of(p) for p in meter.parts]
        periods = [p for p in periods if p]
        return max(periods) if periods else None
    return getattr(meter, "update_period_s", None)


def _idle_window(meter, synchronize, seconds: float, name: str, sleep=time.sleep):
    synchronize()
    meter.begin(name)
    sleep(seconds)
    return meter.end(name)


def _device_seconds(m, key: str) -> float:
    """How long this device's joules cover: update-to-update where both edges were aligned."""
    a = (m.alignment or {}).get(key)
    if a and a.get("covered_s"):  # a composite meter's part read at once (RAPL): its own interval
        return a["covered_s"]
    if a and a["begin"]["aligned"] and a["end"]["aligned"] and a.get("end_extended_to_update"):
        return a["end"]["t_s"] - a["begin"]["t_s"]
    return m.duration_s


def settle(meter, synchronize, energy, period: Optional[float], sleep=time.sleep, clock=time.monotonic) -> dict:
    """Wait until idle power stops falling (bounded by energy.settle_max_s)."""
    if not period or energy.settle_max_s <= 0:
        return {
            "settled": None,
            "seconds": 0.0,
            "power_w": [],
            "reason": "no counter update period known" if not period else "energy.settle_max_s=0",
        }
    chunk = max(SETTLE_CHUNK_UPDATES * period, SETTLE_CHUNK_MIN_S)
    started, powers, settled = clock(), [], False
    while clock() - started + chunk <= energy.settle_max_s:
        m = _idle_window(meter, synchronize, chunk, "settle", sleep)
        if m.total_j is None:
            break
        powers.append(m.total_j / m.duration_s)
        if len(powers) >= 2 and powers[-1] >= powers[-2] * (1 - SETTLE_TOLERANCE):
            settled = True
            break
    if not powers:
        return {
            "settled": None,
            "seconds": clock() - started,
            "power_w": [],
            "reason": f"energy.settle_max_s={energy.settle_max_s:g} is shorter than one settling window ({chunk:.2g} s)",
        }
    return {"settled": settled, "seconds": clock() - started, "power_w": powers, "tolerance": SETTLE_TOLERANCE}


def measure_idle(meter, synchronize, energy, progress: Progress, label: str, sleep=time.sleep, clock=time.monotonic) -> dict:
    """One settled idle-power measurement (the model loaded, nothing running). sleep/clock: tests
    replay a counter on virtual time."""
    period = update_period_of(meter)
    meter.set_baseline(None)  # the baseline window runs update-to-update, uncorrected
    settled = settle(meter, synchronize, energy, period, sleep, clock)
    seconds = max(energy.baseline_s, energy.baseline_min_updates * period) if period else energy.baseline_s
    progress(f"{label} ({seconds:.3g} s, model loaded)")
    m = _idle_window(meter, synchronize, seconds, "baseline", sleep)
    out = {
        "duration_s": m.duration_s,
        "settle": settled,
        "measurement": m.to_dict(),
        "counter_updates": m.duration_s / period if period else None,
    }
    if m.total_j is None:
        return dict(out, power_w=None, reason=m.reason)
    per_device = {k: (None if v is None else v / _device_seconds(m, k)) for k, v in m.energy_j.items()}
    half_w = None
    if m.residual_j is not None:  # what the edges leave, as a +/- on the power
        half_w = (m.residual_j["high"] - m.residual_j["low"]) / 2 / m.duration_s
    return dict(
        out,
        power_w=sum(v for v in per_device.values() if v is not None),
        power_w_per_device=per_device,
        power_w_half_width=half_w,
    )


def take_baseline(meter, synchronize: Callable[[], None], energy, progress: Progress, **clocks) -> dict:
    """The baseline before the windows; the meter gets its power for the end-edge correction.

    `synchronize` waits for the device work this job queued (a no-op where a server owns the device)."""
    if not meter.measures:
        return {"power_w": None, "reason": "the energy meter measures nothing on this machine"}
    if energy.baseline_s <= 0:
        return {"power_w": None, "reason": "energy.baseline_s=0: no idle baseline taken"}
    base = measure_idle(meter, synchronize, energy, progress, "idle baseline", **clocks)
    meter.set_baseline(base.get("power_w_per_device"))
    return base


def close_baseline(meter, synchronize: Callable[[], None], energy, baseline: dict, progress: Progress, **clocks) -> list[str]:
    """The second baseline, after the last window, into baseline["after"]; drift flags."""
    if baseline.get("power_w") is None or not energy.post_baseline:
        return []
    pre = baseline["power_w"]
    post = measure_idle(meter, synchronize, energy, progress, "idle baseline after the windows", **clocks)
    meter.set_baseline(baseline.get("power_w_per_device"))
    baseline["after"] = post
    flags = []
    for when, b in (("before", baseline), ("after", post)):
        s = b.get("settle") or {}
        if s.get("settled") is False:
            flags.append(
                f"baseline_unsettled: idle power {when} the windows was still falling after "
                f"{s['seconds']:.1f} s (energy.settle_max_s={energy.settle_max_s:g}): {_watts(s['power_w'])}"
            )
    if post.get("power_w") is None:
        baseline["drift_w"] = None
        return flags + [f"baseline_after: not measured ({post.get('reason')})"]
    drift = post["power_w"] - pre
    baseline["drift_w"] = drift
    baseline["drift_relative"] = drift / pre if pre else None
    if pre and abs(drift / pre) > energy.baseline_drift_max:
        flags.append(
            f"baseline_drift: idle power {pre:.1f} W before the windows, {post['power_w']:.1f} W after "
            f"({drift / pre:+.1%}, above energy.baseline_drift_max={energy.baseline_drift_max:g}): "
            f"dynamic energy (computed with the first) carries that uncertainty"
        )
    return flags


def _watts(ps) -> str:
    return ", ".join(f"{p:.1f}" for p in ps) + " W"

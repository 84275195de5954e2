"""One GPU's joules over one window from its two counter edges (aligned or not; llem/energy/align.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from llem.energy.align import Edge, edge_residual


@dataclass
class DeviceWindow:
    key: str
    energy_j: Optional[float]
    reason: Optional[str]
    raw: dict
    alignment: dict
    interval: tuple[float, float]  # monotonic seconds the joules cover
    residual: Optional[tuple[float, float]]


def _reason(key: str, b: Edge, e: Edge, covered_s: float, period_s: Optional[float]) -> Optional[str]:
    if b.error or e.error:
        return f"{key}: reading the NVML energy counter failed: {b.error or e.error}"
    if e.value < b.value:
        return (
            f"{key}: the NVML energy counter went backwards ({b.value} -> {e.value} mJ): it was reset "
            f"(driver reload?) during the window, which is therefore not measured"
        )
    if period_s and covered_s < period_s:
        return (
            f"{key}: the window ({covered_s * 1e3:.0f} ms) is shorter than one counter update "
            f"({period_s * 1e3:.0f} ms), so the counter cannot resolve it"
        )
    if e.value == b.value:
        return (
            f"{key}: the NVML energy counter did not move over the {covered_s:.2f} s window "
            f"(stalled counter?): that is no measurement, not 0 J"
        )
    return None


def device_window(
    key: str, b: Edge, e: Edge, t_start: float, t_call: float, idle_w: Optional[float], period_s: Optional[float]
) -> DeviceWindow:
    """t_start: when the window began (after the begin edge); t_call: when end() was called (the
    work's end, after the device synchronize); idle_w: this GPU's baseline power, if known."""
    corr_b = corr_e = 0.0
    start, stop = b.t_s, e.t_s
    if b.aligned and idle_w is not None:  # idle energy between the update and the window's start
        corr_b, start = -idle_w * (t_start - b.t_s), t_start
    if e.aligned and idle_w is not None:  # idle energy between the work's end and the update
        corr_e, stop = -idle_w * (e.t_s - t_call), t_call
    covered = stop - start
    raw = {"begin": b.value, "end": e.value, "unit": "mJ"}
    alignment = {
        "begin": b.to_dict(),
        "end": e.to_dict(),
        "baseline_power_w": idle_w,
        "begin_correction_j": corr_b,
        "end_correction_j": corr_e,
        "end_extended_to_update": e.aligned and idle_w is None,
    }
    reason = _reason(key, b, e, covered, period_s)
    if reason:
        return DeviceWindow(key, None, reason, raw, alignment, (start, stop), None)
    counted = (e.value - b.value) / 1000.0
    busy_w = counted / covered if covered > 0 else 0.0
    corrected_to = t_call if (e.aligned and idle_w is not None) else None
    ranges = [
        edge_residual(b, "begin", idle_w, busy_w, period_s, None),
        edge_residual(e, "end", idle_w, busy_w, period_s, corrected_to),
    ]
    residual = None if None in ranges else (ranges[0][0] + ranges[1][0], ranges[0][1] + ranges[1][1])
    return DeviceWindow(key, counted + corr_b + corr_e, None, raw, alignment, (start, stop), residual)

"""Flags on measured windows: what a meter saw at the edges, and the sampler's conditions inside.

energy_window_flags(): per window, from its Measurement (short window with its residual, the
meter's own flags such as foreign processes). annotate_conditions(): after the sampler stopped,
each window's conditions (llem/energy/conditions.py) go into the window record, and throttling,
counter-vs-instant-power disagreement and temperature drift across repeats become flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llem.energy.conditions import instants, read_timeseries, split_summary, window_conditions


def energy_window_flags(m, energy_spec) -> list[str]:
    flags = list(getattr(m, "flags", None) or [])
    if m.update_period_s and m.total_j is not None:
        updates = m.duration_s / m.update_period_s
        if updates < energy_spec.min_window_updates:
            r = m.residual_j
            bound = (
                f"edge residual {r['low']:+.3g} to {r['high']:+.3g} J ({r['low'] / m.total_j:+.2%} to "
                f"{r['high'] / m.total_j:+.2%})"
                if r and m.total_j
                else f"quantisation error up to ~{2 * m.update_period_s / m.duration_s:.1%}"
            )
            flags.append(
                f"short_window: {m.duration_s:.2f} s is {updates:.1f} counter updates "
                f"(< {energy_spec.min_window_updates}); {bound}: give the window more work (more prompts or "
                f"output tokens) so it lasts >= {energy_spec.min_window_updates * m.update_period_s:.1f} s"
            )
    return flags


def _interval(w: dict) -> Optional[tuple[float, float]]:
    e = w.get("energy") or {}
    if e.get("interval_unix_s"):
        a, b = e["interval_unix_s"]
        return a, b
    if w.get("started_unix_s") is not None and w.get("duration_s") is not None:
        return w["started_unix_s"], w["started_unix_s"] + w["duration_s"]
    return None


def _gpu_joules(w: dict) -> Optional[float]:
    per = (w.get("energy") or {}).get("energy_j") or {}
    gpus = [v for k, v in per.items() if k.startswith("gpu")]
    return None if not gpus or any(v is None for v in gpus) else sum(gpus)


def _condition_flags(i: int, c: dict, energy_spec, duration_s: float) -> list[str]:
    flags = []
    for reason, s in sorted((c.get("throttled_s") or {}).items()):
        peak = "n/a" if c.get("peak_power_w") is None else f"{c['peak_power_w']:.0f} W"
        flags.append(
            f"throttled: window {i}: {reason} for {s:.1f} s of {duration_s:.1f} s "
            f"(peak {peak}, power limit {c.get('power_limit_w')} W): the engine ran "
            f"below its clocks, so this window measures the capped configuration"
        )
    if c.get("throttle_unknown_s", 0) > 0.5 * duration_s:
        flags.append(
            f"throttle_unknown: window {i}: throttle reasons unreadable for {c['throttle_unknown_s']:.1f} s; "
            f"whether it was throttled is not known"
        )
    ratio = c.get("instant_to_counter_ratio")
    if ratio is not None and c["samples"] >= 10 and abs(ratio - 1) > energy_spec.power_disagreement_max:
        flags.append(
            f"power_disagreement: window {i}: instant power integrates to {c['instant_power_energy_j']:.1f} J, "
            f"{ratio:.2f}x the counter's joules (beyond energy.power_disagreement_max="
            f"{energy_spec.power_disagreement_max:g}): a sensor, mapping or sampling problem"
        )
    return flags


def annotate_conditions(windows: list[dict], timeseries: Optional[dict], run_dir: Path, energy_spec) -> list[str]:
    """Add "conditions" to each window (in place) and the window/outside split to the timeseries
    summary; return the flags."""
    if not timeseries or not timeseries.get("file") or not (Path(run_dir) / timeseries["file"]).is_file():
        return []
    series = instants(read_timeseries(Path(run_dir) / timeseries["file"]))
    flags, intervals = [], []
    for w in windows:
        iv = _interval(w)
        if iv is None:
            continue
        intervals.append(iv)
        c = window_conditions(series, iv[0], iv[1], _gpu_joules(w))
        w["conditions"] = c
        if "reason" not in c:
            flags += _condition_flags(w.get("index", len(intervals) - 1), c, energy_spec, iv[1] - iv[0])
    if series:
        timeseries.update(split_summary(series, intervals))
    temps = [(w.get("index"), (w.get("conditions") or {}).get("temperature_c_start")) for w in windows]
    temps = [(i, t) for i, t in temps if t is not None]
    if len(temps) >= 2 and abs(temps[-1][1] - temps[0][1]) > energy_spec.temperature_drift_max_c:
        flags.append(
            f"temperature_drift: the GPU started window {temps[0][0]} at {temps[0][1]:.0f} C and window "
            f"{temps[-1][0]} at {temps[-1][1]:.0f} C (> energy.temperature_drift_max_c="
            f"{energy_spec.temperature_drift_max_c:g}): repeats ran in different thermal states; "
            f"a longer run.cooldown_s or more warm-up evens them out"
        )
    return flags

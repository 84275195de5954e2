"""Repeatability by design: windows long enough for the energy counter, windows added until the
confidence interval is tight, cooldowns that wait for the idle baseline, drift detected.

- Window length: a window repeats full passes over the workload until it lasts run.min_window_s;
  unset, a job whose meter has a counter period gets run.target_window_updates periods (50 x NVIDIA's
  100 ms counter: 5 s), and a job without one keeps one pass.
- Target interval: with run.target_ci_pct, two stages (Stein's): the first run.repeats windows fix,
  from their spread, how many windows the 95% t-interval of run.objective's metric needs to be
  within that percentage of its mean (at most run.max_repeats), and exactly that many are measured;
  the later windows' values never decide when to stop. Stopping as soon as the interval looked
  tight (the rule before) is optional stopping: its "95%" interval covered 90-92%
  (benchmarks/coverage_sim.py, docs/benchmarks.md).
- Cooldown: with run.cooldown_mode=baseline (the default), before each window after the first the
  meter's power over short slices is compared with the idle baseline; the window starts once it is
  within max(5%, 5 W) of it, or after run.cooldown_max_s (recorded either way).
- Drift: a least-squares trend of the metric over the windows whose slope's 95% interval excludes
  zero, and that moves the metric by more than its own CI over the run, flags the result.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

from llem.results.objective import HIGHER_IS_BETTER, LOWER_IS_BETTER
from llem.results.stats import summarize, t975

COOLDOWN_SLICE_S = 0.5
COOLDOWN_TOLERANCE = 0.05
COOLDOWN_TOLERANCE_W = 5.0


def window_target_s(run, meter) -> Optional[float]:
    """How long a window must last (None: one pass)."""
    if run.min_window_s is not None:
        return run.min_window_s or None
    period = meter.update_period_s if meter.measures else None
    return run.target_window_updates * period if period else None


def metric_of(objective: str, records: list[dict]) -> Optional[str]:
    """The first metric named by run.objective that every window measured."""
    for name in (n.strip() for n in objective.split(",")[0].split("|")):  # the first objective
        if name in LOWER_IS_BETTER + HIGHER_IS_BETTER and records and all(isinstance(r.get(name), (int, float)) for r in records):
            return name
    return None


def first_stage(run) -> Optional[int]:
    """How many windows the two-stage rule's first stage takes (None: no target, a fixed count)."""
    return run.repeats if run.target_ci_pct is not None else None


def ci_pct(values: list[float], stage: Optional[int] = None) -> Optional[float]:
    """The 95% CI half-width as a percentage of the mean (two-stage: Stein's where wider; the longer side
    where skewness made it asymmetric); None below two values or at a zero mean."""
    stats = summarize(values, stage)
    if not stats or stats["ci95_high"] is None or not stats["mean"]:
        return None
    half = max(stats["ci95_high"] - stats["mean"], stats["mean"] - stats["ci95_low"])
    return 100 * half / abs(stats["mean"])


def planned_windows(run, records: list[dict], objective: str) -> Optional[int]:
    """Stage one's plan: the windows the target needs, from the first run.repeats windows' mean and spread
    (Stein's two-stage rule): ceil((t_0.975(n0 - 1) * CV0 / target)^2), between run.repeats and
    run.max_repeats. None before stage one is complete or without a target or a measured metric."""
    n0 = run.repeats
    if run.target_ci_pct is None or len(records) < n0:
        return None
    first = records[:n0]
    metric = metric_of(objective, first)
    if metric is None:
        return None
    stats = summarize([r[metric] for r in first])
    if n0 < 2 or not stats or stats["std"] is None or not stats["mean"]:
        return max(n0, min(run.max_repeats, 2)) if n0 < 2 else n0
    need = (t975(n0 - 1) * stats["std"] / abs(stats["mean"]) * 100 / run.target_ci_pct) ** 2
    return max(n0, min(run.max_repeats, math.ceil(need)))


def keep_going(run, records: list[dict], objective: str) -> bool:
    """Whether to measure another window: run.repeats, then (with run.target_ci_pct) up to stage one's plan."""
    n = len(records)
    if n < run.repeats:
        return True
    if run.target_ci_pct is None or n >= run.max_repeats:
        return False
    plan = planned_windows(run, records, objective)
    if plan is None:
        return False  # nothing to tighten: the outcome says why
    return n < plan


def drift(values: list[float]) -> Optional[dict]:
    """The least-squares trend of values over their index, per window, relative to the mean."""
    n = len(values)
    if n < 3:
        return None
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    sxx = sum((i - mean_x) ** 2 for i in range(n))
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sxx
    resid = [v - (mean_y + slope * (i - mean_x)) for i, v in enumerate(values)]
    se = math.sqrt(sum(r * r for r in resid) / (n - 2) / sxx) if n > 2 else math.inf
    half = t975(n - 2) * se
    return {
        "slope_per_window": slope,
        "slope_ci95_half": half,
        "relative_change": slope * (n - 1) / mean_y if mean_y else None,
        "significant": abs(slope) > half,
    }


# Lag-1 autocorrelation is judged from this many windows up: below it the estimate's standard error
# (~1/sqrt(n)) is too wide to tell anything (3-5 windows by default: never judged).
AUTOCORR_MIN_WINDOWS = 8


def autocorrelation(values: list[float]) -> Optional[dict]:
    """The windows' lag-1 autocorrelation r1 and what it would do to the 95% interval of their mean. The
    t-interval assumes independent windows; for a first-order autoregressive series the variance of the
    mean is larger by about (1 + r1) / (1 - r1) (effective sample size n (1 - r1) / (1 + r1)). Judged
    significant where r1 > 1.645 / sqrt(n) (one-sided 5% under independence, Bartlett's standard
    error); stated, not applied: with tens of windows the estimate is itself uncertain."""
    n = len(values)
    if n < AUTOCORR_MIN_WINDOWS:
        return None
    mean = sum(values) / n
    dev = [v - mean for v in values]
    c0 = sum(d * d for d in dev)
    if c0 <= 0:
        return None
    r1 = sum(dev[i] * dev[i + 1] for i in range(n - 1)) / c0
    threshold, inside = 1.645 / math.sqrt(n), -1 < r1 < 1
    return {
        "lag1": r1,
        "windows": n,
        "threshold": threshold,
        "significant": r1 > threshold,
        "interval_factor": math.sqrt((1 + r1) / (1 - r1)) if inside else None,
        "effective_windows": n * (1 - r1) / (1 + r1) if inside else None,
    }


def outcome(run, records: list[dict], objective: str) -> dict:
    """The result's `repeatability` record: windows, interval reached, target met or why not, drift."""
    metric = metric_of(objective, records)
    values = [r[metric] for r in records] if metric else []
    pct = ci_pct(values, first_stage(run)) if values else None
    out = {
        "metric": metric,
        "windows": len(records),
        "ci95_half_pct": pct,
        "target_ci_pct": run.target_ci_pct,
        "max_repeats": run.max_repeats,
        "met": None,
        "reason": None,
        "drift": drift(values) if values else None,
        "autocorrelation": autocorrelation(values) if values else None,
        "passes_per_window": [r.get("passes", 1) for r in records],
        "planned_windows": planned_windows(run, records, objective),
        "first_stage_windows": first_stage(run),
        "rule": "two-stage (Stein): the first run.repeats windows fix how many are measured"
        if run.target_ci_pct is not None
        else None,
    }
    if run.target_ci_pct is None:
        out["reason"] = "run.target_ci_pct not set: run.repeats windows"
    elif metric is None:
        out["reason"] = f"run.objective={objective} was not measured in every window: no interval to tighten"
    elif pct is not None and pct <= run.target_ci_pct:
        out["met"] = True
    else:
        out["met"] = False
        if pct is None:
            out["reason"] = "the interval is undefined (a zero mean)"
        elif len(records) >= run.max_repeats:
            out["reason"] = f"run.max_repeats={run.max_repeats} reached with a ±{pct:.2f}% interval"
        else:  # the plan stage one fixed was measured, and is never extended (that would be optional stopping)
            out["reason"] = (
                f"stage one planned {len(records)} windows (of run.max_repeats={run.max_repeats}) from its "
                f"first {run.repeats}; over all of them the interval came out at ±{pct:.2f}%"
            )
    return out


def flags(rep: dict) -> list[str]:
    """Flags for a target not met and for drift beyond the metric's own interval."""
    out = []
    d = rep.get("drift")
    if (
        d
        and d["significant"]
        and d["relative_change"] is not None
        and rep["ci95_half_pct"] is not None
        and abs(d["relative_change"]) * 100 > rep["ci95_half_pct"]
    ):
        out.append(
            f"drift: {rep['metric']} moved {d['relative_change']:+.1%} from the first to the last of "
            f"{rep['windows']} windows (trend significant at 95%): conditions did not settle "
            f"(raise run.warmup_s, or see the windows' temperature and clocks)"
        )
    a = rep.get("autocorrelation")
    if a and a["significant"]:
        wider = (
            (
                f", about x{a['interval_factor']:.2f} wider for a first-order autoregressive series "
                f"(~{a['effective_windows']:.1f} independent windows)"
            )
            if a["interval_factor"]
            else ""
        )
        out.append(
            f"windows_correlated: {rep['metric']}'s lag-1 autocorrelation is {a['lag1']:+.2f} over "
            f"{a['windows']} windows (above {a['threshold']:.2f}, the 5% level for independent windows): "
            f"the 95% interval assumes independence and is too narrow{wider}"
        )
    if rep.get("met") is False:
        out.append(f"target_ci_not_met: {rep['reason']} (run.target_ci_pct={rep['target_ci_pct']:g})")
    elif rep.get("met") is None and rep.get("target_ci_pct") is not None:
        out.append(
            f"target_ci_not_applied: {rep['reason']} (add a measured metric to run.objective, e.g. "
            f"run.objective='energy_j_per_output_token|output_tokens_per_s')"
        )
    return out


def cool_down(meter, baseline_w: Optional[float], run, progress: Callable[[str], None]) -> Optional[dict]:
    """Wait until the meter's power is back near the idle baseline (bounded); None where not applicable."""
    if run.cooldown_mode != "baseline" or baseline_w is None or not meter.measures or run.cooldown_max_s <= 0:
        return None
    limit = baseline_w * (1 + COOLDOWN_TOLERANCE) + COOLDOWN_TOLERANCE_W
    slice_s = max(COOLDOWN_SLICE_S, 5 * (meter.update_period_s or 0))
    started, power = time.monotonic(), None
    while time.monotonic() - started < run.cooldown_max_s:
        meter.begin("cooldown")
        time.sleep(slice_s)
        m = meter.end("cooldown")
        if m.total_j is None or not m.duration_s:
            return {"waited_s": time.monotonic() - started, "reached": None, "power_w": None, "reason": m.reason}
        power = m.total_j / m.duration_s
        if power <= limit:
            return {"waited_s": time.monotonic() - started, "reached": True, "power_w": power, "limit_w": limit}
    progress(f"cooldown: power {power:.0f} W still above {limit:.0f} W after {run.cooldown_max_s:g} s")
    return {"waited_s": time.monotonic() - started, "reached": False, "power_w": power, "limit_w": limit}

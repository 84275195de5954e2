"""The uncertainty budget of a result's J/token (total and dynamic), after the GUM's recipe.

Components, each as a standard uncertainty in J/token:
- edge residual: what each window's edges may still be off by (Measurement.residual_j, a range of
  measured - true), per output token, averaged over windows; a rectangular distribution over its
  range (standard = range / (2 sqrt 3)); its midpoint is the expected bias, reported with its sign
  and not subtracted.
- baseline (dynamic only): the idle power's half-width (what its own edges leave, plus half the
  drift between the baselines before and after the windows) times each window's duration, per
  output token; rectangular as well. Fully correlated across windows, so not reduced by averaging.
- repeats: the standard error of the mean over the windows (s / sqrt n); its 95% interval is the
  Student-t one in `statistics`.
Combined: the root sum of squares; expanded: k = 2 (about 95%). Relative: expanded / |mean|.
"""

from __future__ import annotations

import math
from typing import Optional

SQRT3 = math.sqrt(3)
K = 2.0
FIELDS = {"energy_j_per_output_token": False, "dynamic_energy_j_per_output_token": True}  # name -> dynamic?


def baseline_half_width_w(baseline: dict) -> Optional[float]:
    if not baseline or baseline.get("power_w") is None:
        return None
    edges = baseline.get("power_w_half_width") or 0.0
    drift = baseline.get("drift_w")
    return edges + (abs(drift) / 2 if drift is not None else 0.0)


def _edge(windows: list[dict]) -> Optional[dict]:
    lows, highs = [], []
    for w in windows:
        r = (w.get("energy") or {}).get("residual_j")
        if r is None or not w.get("output_tokens"):
            return None
        lows.append(r["low"] / w["output_tokens"])
        highs.append(r["high"] / w["output_tokens"])
    low, high = sum(lows) / len(lows), sum(highs) / len(highs)
    return {"low": low, "high": high, "expected_bias": (low + high) / 2, "standard": (high - low) / (2 * SQRT3)}


def _baseline(windows: list[dict], half_w: Optional[float]) -> Optional[dict]:
    if half_w is None:
        return None
    per = [half_w * w["duration_s"] / w["output_tokens"] for w in windows if w.get("output_tokens")]
    if not per:
        return None
    a = sum(per) / len(per)
    return {"half_width": a, "standard": a / SQRT3, "power_half_width_w": half_w}


def _repeats(values: list[float]) -> Optional[dict]:
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return {"n": n, "standard": s / math.sqrt(n)}


def field_budget(windows: list[dict], field: str, dynamic: bool, baseline: dict) -> Optional[dict]:
    measured = [w for w in windows if w.get(field) is not None]
    if not measured:
        return None
    values = [w[field] for w in measured]
    mean = sum(values) / len(values)
    parts = {"edge_residual": _edge(measured), "repeats": _repeats(values)}
    if dynamic:
        parts["baseline"] = _baseline(measured, baseline_half_width_w(baseline))
    missing = sorted(k for k, v in parts.items() if v is None)
    u_c = math.sqrt(sum(v["standard"] ** 2 for v in parts.values() if v is not None))
    return {
        "mean": mean,
        "components": parts,
        "combined_standard": u_c,
        "expanded": K * u_c,
        "coverage_factor": K,
        "relative_expanded": K * u_c / abs(mean) if mean else None,
        "interval": [mean - K * u_c, mean + K * u_c],
        # a component that could not be evaluated is named, never silently counted as 0
        "not_evaluated": missing,
    }


def budget(windows: list[dict], baseline: dict) -> dict:
    return {f: field_budget(windows, f, dyn, baseline or {}) for f, dyn in FIELDS.items()}


def budget_flags(b: dict, windows: list[dict], energy_spec) -> list[str]:
    flags = []
    dyn = b.get("dynamic_energy_j_per_output_token")
    limit = getattr(energy_spec, "dynamic_uncertainty_max", None)
    if dyn and dyn["relative_expanded"] is not None and limit is not None and dyn["relative_expanded"] > limit:
        flags.append(f"dynamic_uncertain: dynamic J/token {dyn['mean']:.4g} +/- {dyn['expanded']:.2g} (k=2, "
                     f"{dyn['relative_expanded']:.1%} > energy.dynamic_uncertainty_max={limit:g}): the dynamic figure "
                     f"is not resolved; longer windows or a longer baseline narrow it")
    negative = [w.get("index") for w in windows if (w.get("dynamic_energy_j") or 0) < 0]
    if negative:
        flags.append(f"negative_dynamic_energy: window(s) {negative} used less energy than the idle baseline "
                     f"predicts for their duration: the baseline is too high (drift, or taken while still "
                     f"settling) or the work drew almost nothing above idle")
    return flags

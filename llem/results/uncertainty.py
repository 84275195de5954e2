"""The uncertainty budget of a result's J/token (total and dynamic), after the GUM's recipe.

Components, each as a standard uncertainty in J/token, with its degrees of freedom:
- edge residual: what each window's edges may still be off by (Measurement.residual_j, a range of
  measured - true), per output token, averaged over windows; a rectangular distribution over its
  range (standard = range / (2 sqrt 3)), a Type-B bound taken as certain (infinite freedom). Its
  midpoint is the expected bias: the interval is centred on the mean less it (`corrected_mean`).
- baseline (dynamic only): the idle power's half-width (what its own edges leave, plus half the
  drift between the baselines before and after the windows) times each window's duration, per
  output token; rectangular as well, infinite freedom. Fully correlated across windows, so not
  reduced by averaging.
- repeats: the standard error of the mean over the windows (s / sqrt n), n - 1 degrees of freedom;
  its 95% interval is the Student-t one in `statistics`.
Combined: the root sum of squares; its effective degrees of freedom by Welch-Satterthwaite, and the
expanded uncertainty k = t_0.975(nu_eff) times it (95%; k = 2 would cover ~82% with 3 windows), but
never less than the repeats' own Student-t half-width t_0.975(n - 1) s / sqrt n: at 2-4 degrees of
freedom a small Type-B part raises nu_eff (and lowers k) faster than it widens u_c, and
Welch-Satterthwaite alone covered 92.5% with 3 windows in the simulation.
Relative: expanded / |mean|. Excluded, and said so in each budget (`excludes`): the sensor's own
calibration (the counter's accuracy against a reference meter), common to every result on one card.
Coverage by simulation: benchmarks/coverage_sim.py, docs/benchmarks.md.
"""

from __future__ import annotations

import math
from typing import Optional

from llem.stats import t975, welch_satterthwaite

SQRT3 = math.sqrt(3)
EXCLUDES = ("sensor calibration: the energy counter's accuracy against a reference meter (not characterised by "
            "llem; common to every result on the same card, so it cancels in comparisons on one card but not "
            "across cards or against other tools)")
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


def _repeats(values: list[float], first_stage: Optional[int] = None) -> Optional[dict]:
    """s / sqrt(n) with n - 1 dof; after a two-stage rule (llem/repeat.py), Stein's s0 / sqrt(n) with n0 - 1
    dof where that is wider (the first stage's spread fixed n, so only it gives an exact interval)."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    out = {"n": n, "standard": s / math.sqrt(n), "dof": n - 1}
    if first_stage and 2 <= first_stage <= n:
        head = values[:first_stage]
        m0 = sum(head) / first_stage
        s0 = math.sqrt(sum((v - m0) ** 2 for v in head) / (first_stage - 1))
        if t975(first_stage - 1) * s0 > t975(n - 1) * s:
            out.update(standard=s0 / math.sqrt(n), dof=first_stage - 1, rule="two-stage (Stein): first-stage spread")
    return out


def field_budget(windows: list[dict], field: str, dynamic: bool, baseline: dict,
                 first_stage: Optional[int] = None) -> Optional[dict]:
    measured = [w for w in windows if w.get(field) is not None]
    if not measured:
        return None
    values = [w[field] for w in measured]
    mean = sum(values) / len(values)
    stage = first_stage if len(measured) == len(windows) else None
    parts = {"edge_residual": _edge(measured), "repeats": _repeats(values, stage)}
    if dynamic:
        parts["baseline"] = _baseline(measured, baseline_half_width_w(baseline))
    missing = sorted(k for k, v in parts.items() if v is None)
    present = [(v["standard"], v.get("dof", math.inf)) for v in parts.values() if v is not None]
    u_c = math.sqrt(sum(u * u for u, _ in present))
    nu = welch_satterthwaite(present) if present else math.inf
    k = t975(nu)
    rep = parts["repeats"]
    if rep is not None and u_c > 0:  # never narrower than the repeats' own Student-t interval
        k = max(k, t975(rep["dof"]) * rep["standard"] / u_c)
    bias = parts["edge_residual"]["expected_bias"] if parts["edge_residual"] else 0.0
    centre = mean - bias
    return {
        "mean": mean,
        "components": parts,
        "combined_standard": u_c,
        "effective_dof": None if math.isinf(nu) else nu,  # None: infinite (no Type-A part)
        "expanded": k * u_c,
        "coverage_factor": k,
        "coverage": 0.95,
        "relative_expanded": k * u_c / abs(mean) if mean else None,
        # measured - true is expected to be `expected_bias` (the edge residual's midpoint): the interval
        # for the true value is centred on the mean less it
        "expected_bias": bias,
        "corrected_mean": centre,
        "interval": [centre - k * u_c, centre + k * u_c],
        # a component that could not be evaluated is named, never silently counted as 0
        "not_evaluated": missing,
        "excludes": [EXCLUDES],
    }


def budget(windows: list[dict], baseline: dict, first_stage: Optional[int] = None) -> dict:
    """first_stage: the windows came from the two-stage rule (llem/repeat.py) with this first stage."""
    return {f: field_budget(windows, f, dyn, baseline or {}, first_stage) for f, dyn in FIELDS.items()}


def budget_flags(b: dict, windows: list[dict], energy_spec) -> list[str]:
    flags = []
    dyn = b.get("dynamic_energy_j_per_output_token")
    limit = getattr(energy_spec, "dynamic_uncertainty_max", None)
    if dyn and dyn["relative_expanded"] is not None and limit is not None and dyn["relative_expanded"] > limit:
        flags.append(f"dynamic_uncertain: dynamic J/token {dyn['mean']:.4g} +/- {dyn['expanded']:.2g} (k={dyn['coverage_factor']:.2f}, 95%, "
                     f"{dyn['relative_expanded']:.1%} > energy.dynamic_uncertainty_max={limit:g}): the dynamic figure "
                     f"is not resolved; longer windows or a longer baseline narrow it")
    negative = [w.get("index") for w in windows if (w.get("dynamic_energy_j") or 0) < 0]
    if negative:
        flags.append(f"negative_dynamic_energy: window(s) {negative} used less energy than the idle baseline "
                     f"predicts for their duration: the baseline is too high (drift, or taken while still "
                     f"settling) or the work drew almost nothing above idle")
    return flags

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
never less than the repeats' own Student-t half-width t_0.975(n - 1) s / sqrt n (two-stage: Stein's,
where wider), nor than that t half-width and the Type-B parts' own 95% half-width combined in
quadrature: at 2-4 degrees of freedom a small Type-B part raises nu_eff (and lowers k) faster than it
widens u_c (Welch-Satterthwaite alone covered 92.5% with 3 windows in the simulation, the repeats'
half-width alone 94.4% with 5, 92.8% on skewed windows).
Skewed windows: the interval's long side reaches further by the statistics' skew extension
(llem/results/stats.py, Johnson 1978) times the repeats' share of the combined variance, so `interval` may
be asymmetric about `corrected_mean`; `expanded` is the symmetric part k u_c.
Relative: expanded / |mean|. Excluded, and said so in each budget (`excludes`): the sensor's own
calibration (the counter's accuracy against a reference meter), common to every result on one card.
Coverage by simulation: benchmarks/coverage_sim.py, docs/benchmarks.md.
"""

from __future__ import annotations

import math
from typing import Optional

from llem.results.stats import skew_extension, skewness, t975, welch_satterthwaite

SQRT3 = math.sqrt(3)
EXCLUDES = (
    "sensor calibration: the energy counter's accuracy against a reference meter (not characterised by "
    "llem; common to every result on the same card, so it cancels in comparisons on one card but not "
    "across cards or against other tools)"
)
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


def rectangular_sum_half_width(halves: list[float], p: float = 0.95) -> float:
    """The half-width holding p of a sum of independent rectangular distributions of these half-widths:
    p a for one; for two (a >= b) a trapezoid, whose two tails beyond x in [a - b, a + b] hold
    (a + b - x)^2 / (4ab); for more, the normal limit's z sqrt(sum a^2 / 3) (their sum is near normal)."""
    halves = sorted((h for h in halves if h > 0), reverse=True)
    if not halves:
        return 0.0
    if len(halves) == 1:
        return p * halves[0]
    if len(halves) == 2:
        a, b = halves
        x = a + b - math.sqrt(4 * a * b * (1 - p))
        return x if x >= a - b else p * a  # else inside the flat top, where the tails hold 1 - x/a
    return 1.959964 * math.sqrt(sum(h * h for h in halves) / 3)


def _repeats(values: list[float], first_stage: Optional[int] = None) -> Optional[dict]:
    """s / sqrt(n) with n - 1 dof; after a two-stage rule (llem/harness/repeat.py), Stein's s0 / sqrt(n) with n0 - 1
    dof where that is wider (the first stage's spread fixed n, so only it gives an exact interval)."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    out = {"n": n, "std": s, "standard": s / math.sqrt(n), "dof": n - 1}
    if first_stage and 2 <= first_stage <= n:
        head = values[:first_stage]
        m0 = sum(head) / first_stage
        s0 = math.sqrt(sum((v - m0) ** 2 for v in head) / (first_stage - 1))
        if t975(first_stage - 1) * s0 > t975(n - 1) * s:
            out.update(standard=s0 / math.sqrt(n), dof=first_stage - 1, rule="two-stage (Stein): first-stage spread")
    return out


def field_budget(
    windows: list[dict], field: str, dynamic: bool, baseline: dict, first_stage: Optional[int] = None
) -> Optional[dict]:
    measured = [w for w in windows if w.get(field) is not None]
    if not measured:
        return None
    values = [w[field] for w in measured]
    mean = sum(values) / len(values)
    stage = first_stage if len(measured) == len(windows) else None
    parts = {"edge_residual": _edge(measured), "repeats": _repeats(values, stage)}
    if dynamic:
        parts["baseline"] = _baseline(measured, baseline_half_width_w(baseline))
    # a part that came out non-finite (a meter's degenerate edge or baseline) is left out and named, not summed
    parts = {k: (v if v is None or math.isfinite(v["standard"]) else None) for k, v in parts.items()}
    missing = sorted(k for k, v in parts.items() if v is None)
    present = [(abs(v["standard"]), v.get("dof", math.inf)) for v in parts.values() if v is not None]
    u_c = math.sqrt(sum(u * u for u, _ in present))
    nu = welch_satterthwaite(present) if present else math.inf
    k = t975(max(nu, 1.0))  # nu >= 1 in exact arithmetic (every finite dof is); rounding must not take it below
    rep = parts["repeats"]
    if rep is not None and u_c > 0:
        # never narrower than the repeats' own half-width (Student-t, or Stein's), nor than the t half-width and
        # the Type-B parts' own 95% half-width in quadrature (the repeats' alone covered 94.4% at 5 windows)
        rect = [v["standard"] * SQRT3 for v in parts.values() if v is not None and math.isinf(v.get("dof", math.inf))]
        n, s = rep["n"], rep["std"]
        k = max(
            k,
            t975(rep["dof"]) * rep["standard"] / u_c,
            math.hypot(t975(n - 1) * s / math.sqrt(n), rectangular_sum_half_width(rect)) / u_c,
        )
    bias = parts["edge_residual"]["expected_bias"] if parts["edge_residual"] else 0.0
    centre = mean - bias
    # the windows' skew: the long side reaches further by the statistics' skew extension (llem/results/stats.py
    # skew_extension), scaled by the windows' share of the combined variance (the Type-B parts are symmetric)
    gamma = skewness(values)
    ext = (0.0, 0.0)
    if rep is not None and u_c > 0:
        share = min(1.0, s * s / n / u_c**2)
        ext = skew_extension(s, n, gamma, t975(n - 1))
        if rep.get("rule"):  # two-stage: only as far as the skew-extended t-interval reaches beyond Stein's
            beyond = t975(n - 1) * s / math.sqrt(n) - t975(rep["dof"]) * rep["standard"]
            ext = tuple(max(0.0, e + beyond) if e else 0.0 for e in ext)
        ext = (ext[0] * share, ext[1] * share)
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
        "skewness": gamma,
        "skew_extension": {"low": ext[0], "high": ext[1]},
        "interval": [centre - k * u_c - ext[0], centre + k * u_c + ext[1]],
        # a component that could not be evaluated is named, never silently counted as 0
        "not_evaluated": missing,
        "excludes": [EXCLUDES],
    }


def budget(windows: list[dict], baseline: dict, first_stage: Optional[int] = None) -> dict:
    """first_stage: the windows came from the two-stage rule (llem/harness/repeat.py) with this first stage."""
    return {f: field_budget(windows, f, dyn, baseline or {}, first_stage) for f, dyn in FIELDS.items()}


def budget_flags(b: dict, windows: list[dict], energy_spec) -> list[str]:
    flags = []
    dyn = b.get("dynamic_energy_j_per_output_token")
    limit = getattr(energy_spec, "dynamic_uncertainty_max", None)
    if dyn and dyn["relative_expanded"] is not None and limit is not None and dyn["relative_expanded"] > limit:
        flags.append(
            f"dynamic_uncertain: dynamic J/token {dyn['mean']:.4g} +/- {dyn['expanded']:.2g} (k={dyn['coverage_factor']:.2f}, 95%, "
            f"{dyn['relative_expanded']:.1%} > energy.dynamic_uncertainty_max={limit:g}): the dynamic figure "
            f"is not resolved; longer windows or a longer baseline narrow it"
        )
    negative = [w.get("index") for w in windows if (w.get("dynamic_energy_j") or 0) < 0]
    if negative:
        flags.append(
            f"negative_dynamic_energy: window(s) {negative} used less energy than the idle baseline "
            f"predicts for their duration: the baseline is too high (drift, or taken while still "
            f"settling) or the work drew almost nothing above idle"
        )
    return flags

"""Summary statistics over repeated windows: mean, std, CV and a 95% confidence interval for the mean:
the Student-t interval with its long side (the side the sample's skew points to) moved out by Johnson's
(1978) skewness correction; never narrower than the t-interval (docs/energy.md, "Skewed windows")."""

from __future__ import annotations

import math
from typing import Optional, Sequence

# Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30.
_T975 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]


# t_{0.975, df} for df = 1.0, 1.1, ..., 3.9, where the factor changes fastest (an effective df from
# Welch-Satterthwaite is fractional, and 2-3 with the default 3 windows).
_T975_FINE = [
    12.7062,
    10.2768,
    8.6488,
    7.5005,
    6.657,
    6.0167,
    5.5172,
    5.1188,
    4.7949,
    4.5271,
    4.3027,
    4.1122,
    3.9487,
    3.8072,
    3.6835,
    3.5747,
    3.4782,
    3.3921,
    3.315,
    3.2454,
    3.1824,
    3.1252,
    3.0728,
    3.0249,
    2.9808,
    2.9401,
    2.9024,
    2.8675,
    2.835,
    2.8047,
]


def _between(df: float, a: float, ta: float, b: float, tb: float) -> float:
    """log t interpolated linearly in 1/df between two tabulated points (within ~1e-3 relative)."""
    w = (1 / a - 1 / df) / (1 / a - 1 / b)
    return math.exp(math.log(ta) + (math.log(tb) - math.log(ta)) * w)


def t975(df: float) -> float:
    """t_{0.975, df}: the two-sided 95% Student-t factor. df may be fractional (an effective number of
    degrees of freedom, Welch-Satterthwaite) or infinite (1.96)."""
    if not df >= 1:
        raise ValueError("df must be >= 1")
    if math.isinf(df):
        return 1.959964
    if df == int(df) and df <= 30:
        return _T975[int(df) - 1]
    if df < 4:
        i = min(int(round((df - 1) * 10, 9)), len(_T975_FINE) - 1)
        a = 1 + i / 10
        if i == len(_T975_FINE) - 1:
            return _between(df, a, _T975_FINE[i], 4.0, _T975[3])
        return _between(df, a, _T975_FINE[i], a + 0.1, _T975_FINE[i + 1])
    if df < 30:
        lo = int(df)
        return _between(df, lo, _T975[lo - 1], lo + 1, _T975[lo])
    z = 1.959964  # Cornish-Fisher expansion: accurate to ~1e-3 beyond df 30
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def welch_satterthwaite(parts: list[tuple[float, float]]) -> float:
    """Effective degrees of freedom of a combined standard uncertainty from (standard uncertainty, degrees
    of freedom) parts (GUM G.4.1); a part with infinite freedom (a Type-B bound taken as certain) adds
    none to the denominator. Infinite where no part has finite freedom."""
    u_c2 = sum(u * u for u, _ in parts)
    denom = sum(u**4 / nu for u, nu in parts if not math.isinf(nu) and u > 0)
    return math.inf if denom == 0 else u_c2**2 / denom


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def stein_half_width(xs: Sequence[float], first_stage: int) -> Optional[float]:
    """The 95% half-width of a two-stage (Stein) sample whose size was fixed from its first `first_stage`
    values: t_0.975(n0 - 1) s0 / sqrt(n), s0 their standard deviation. Exact for normal data whatever n
    the first stage chose, where the usual t-interval over all n values is not (a small s0 stops early
    and its small s narrows the interval too). None below two first-stage values."""
    if first_stage < 2 or len(xs) < first_stage:
        return None
    head = list(xs[:first_stage])
    m0 = sum(head) / first_stage
    s0 = math.sqrt(sum((x - m0) ** 2 for x in head) / (first_stage - 1))
    return t975(first_stage - 1) * s0 / math.sqrt(len(xs))


CI95_METHOD = "t, long side extended for skewness (Johnson 1978, outward only)"


def skewness(xs: Sequence[float]) -> Optional[float]:
    """The sample skewness b1 = m3 / s^3 (m3 the mean cubed deviation, s the n - 1 standard deviation):
    of the three usual estimators (Joanes & Gill 1998: b1 <= g1 <= G1 in size) the one shrunk most towards
    zero at small n (|b1| <= 0.385 with 3 values), which keeps the noise skew of a normal sample from
    widening its interval much. None below three values or without spread."""
    n = len(xs)
    if n < 3:
        return None
    mean = sum(xs) / n
    s2 = sum((x - mean) ** 2 for x in xs) / (n - 1)
    if s2 <= 0:
        return None
    return sum((x - mean) ** 3 for x in xs) / n / s2**1.5


def skew_extension(std: float, n: int, gamma: Optional[float], k: float) -> tuple[float, float]:
    """How far (low, high) the 95% interval's long side reaches beyond mean +- k std/sqrt(n) for a sample
    skewness gamma: Johnson's (1978) modified t, to first order in the skewness (the n^-1/2 term of the
    studentised mean's Edgeworth/Cornish-Fisher expansion, gamma (2k^2 + 1)/6 in units of the standard
    error) moves both bounds by std |gamma| (2k^2 + 1)/(6n) towards the long tail; only the outward move is
    kept, so the interval is never narrower than the t-interval (a normal sample's estimated skew is
    noise). Linear in gamma: Hall's (1992) cubic transformation reaches 2.5x the t-interval where
    |gamma| k/sqrt(n) nears 1. (0, 0) without a skewness."""
    if not gamma or n < 3 or not std > 0:
        return 0.0, 0.0
    ext = std * abs(gamma) * (2 * k * k + 1) / (6 * n)
    return (0.0, ext) if gamma > 0 else (ext, 0.0)


def summarize(values: Sequence[Optional[float]], first_stage: Optional[int] = None) -> Optional[dict]:
    """Statistics of the non-missing values, or None when there are none. Missing values are
    never treated as 0; how many were missing is stated only when some were. first_stage: the values
    came from a two-stage rule (llem/harness/repeat.py) whose first this many fixed how many were taken; the
    95% interval then reaches, on each side, the further of the usual one and Stein's (`ci95_rule`). With three
    values or more the interval's long side is stretched by `skew_extension` (`skewness`, `ci95_method`),
    so it may be asymmetric about the mean; it is never narrower than the t-interval."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None
    n = len(xs)
    mean = sum(xs) / n
    out = {"n": n, "mean": mean, "std": None, "cv": None, "ci95_low": None, "ci95_high": None, "min": min(xs), "max": max(xs)}
    if len(values) > n:
        out["n_missing"] = len(values) - n
    if n >= 2:
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
        half = t975(n - 1) * std / math.sqrt(n)
        stein = stein_half_width(xs, first_stage) if first_stage and len(xs) == len(values) else None
        if first_stage:
            out["ci95_rule"] = (
                "two-stage (Stein): on each side the further of the (skew-extended) t-interval and t(n0-1) s0 / sqrt(n)"
                if stein is not None
                else "t-interval (no complete first stage)"
            )
        gamma = skewness(xs)
        ext_low, ext_high = skew_extension(std, n, gamma, t975(n - 1))
        # the skew-extended t-interval, or Stein's where that reaches further (each valid on its own terms)
        low, high = min(mean - half - ext_low, mean - (stein or 0.0)), max(mean + half + ext_high, mean + (stein or 0.0))
        out.update(
            std=std, cv=(std / abs(mean)) if mean else None, ci95_low=low, ci95_high=high, skewness=gamma, ci95_method=CI95_METHOD
        )
    return out

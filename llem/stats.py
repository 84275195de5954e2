"""Summary statistics over repeated windows: mean, std, CV and a Student-t 95% confidence interval."""

from __future__ import annotations

import math
from typing import Optional, Sequence

# Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30.
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]


# t_{0.975, df} for df = 1.0, 1.1, ..., 3.9, where the factor changes fastest (an effective df from
# Welch-Satterthwaite is fractional, and 2-3 with the default 3 windows).
_T975_FINE = [
    12.7062, 10.2768, 8.6488, 7.5005, 6.657, 6.0167, 5.5172, 5.1188, 4.7949, 4.5271,
    4.3027, 4.1122, 3.9487, 3.8072, 3.6835, 3.5747, 3.4782, 3.3921, 3.315, 3.2454,
    3.1824, 3.1252, 3.0728, 3.0249, 2.9808, 2.9401, 2.9024, 2.8675, 2.835, 2.8047,
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
    denom = sum(u ** 4 / nu for u, nu in parts if not math.isinf(nu) and u > 0)
    return math.inf if denom == 0 else u_c2 ** 2 / denom


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


def summarize(values: Sequence[Optional[float]], first_stage: Optional[int] = None) -> Optional[dict]:
    """Statistics of the non-missing values, or None when there are none. Missing values are
    never treated as 0; how many were missing is stated only when some were. first_stage: the values
    came from a two-stage rule (llem/repeat.py) whose first this many fixed how many were taken; the
    95% interval is then the wider of the usual one and Stein's (`ci95_rule` says which rule)."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None
    n = len(xs)
    mean = sum(xs) / n
    out = {"n": n, "mean": mean, "std": None, "cv": None, "ci95_low": None, "ci95_high": None,
           "min": min(xs), "max": max(xs)}
    if len(values) > n:
        out["n_missing"] = len(values) - n
    if n >= 2:
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
        half = t975(n - 1) * std / math.sqrt(n)
        stein = stein_half_width(xs, first_stage) if first_stage and len(xs) == len(values) else None
        if first_stage:
            out["ci95_rule"] = "two-stage (Stein): the wider of the t-interval and t(n0-1) s0 / sqrt(n)" \
                if stein is not None else "t-interval (no complete first stage)"
        half = max(half, stein or 0.0)
        out.update(std=std, cv=(std / abs(mean)) if mean else None, ci95_low=mean - half, ci95_high=mean + half)
    return out

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


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("df must be >= 1")
    if df <= 30:
        return _T975[df - 1]
    z = 1.959964  # Cornish-Fisher expansion: accurate to ~1e-3 beyond df 30
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(values: Sequence[Optional[float]]) -> Optional[dict]:
    """Statistics of the non-missing values, or None when there are none. Missing values are
    never treated as 0; how many were missing is stated only when some were."""
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
        out.update(std=std, cv=(std / abs(mean)) if mean else None, ci95_low=mean - half, ci95_high=mean + half)
    return out

"""Numbers as a paper prints them: a value with a confidence interval keeps the digits the interval
supports (the half-width to two significant digits, the value to the same decimal place:
0.042137 ± 0.001342 -> "0.0421 ± 0.0013"); a value without one keeps four significant digits."""

from __future__ import annotations

import math
from typing import Optional

CI_SIG = 2  # significant digits of a CI half-width
PLAIN_SIG = 4  # significant digits of a value without a CI


def _decimals(x: float, sig: int) -> int:
    """Decimal places that keep `sig` significant digits of x (negative: round left of the point)."""
    return sig - 1 - math.floor(math.log10(abs(x)))


def _fixed(x: float, decimals: int) -> str:
    if decimals < 0:  # 4257 to the tens: 4260
        return f"{round(x, decimals):.0f}"
    return f"{x:.{decimals}f}"


def plain(value: Optional[float], sig: int = PLAIN_SIG) -> str:
    """A value to `sig` significant digits, in fixed point for the magnitudes llem reports; '' if missing."""
    if value is None:
        return ""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 1e7 or abs(value) < 1e-5:
        return f"{value:.{sig - 1}e}"
    d = _decimals(value, sig)
    if round(value, d) != 0:  # rounding can add a digit (9.9996 -> 10.00): count the rounded value's
        d = _decimals(round(value, d), sig)
    return _fixed(value, d)


def half_width(low: Optional[float], high: Optional[float]) -> Optional[float]:
    if low is None or high is None:
        return None
    return (high - low) / 2


def with_ci(value: Optional[float], low: Optional[float], high: Optional[float]) -> tuple[str, str]:
    """(value, half-width) as strings rounded together; ('', '') if the value is missing and
    (value, '') without a usable interval (one repeat, or no spread at all)."""
    if value is None:
        return "", ""
    # an interval need not be symmetric (the skew-extended t-interval, llem/results/stats.py): "±" shows its longer
    # side, so the printed range always holds the whole interval
    half = max(high - value, value - low) if low is not None and high is not None else None
    if half is None or not math.isfinite(half) or half <= 0 or half < 1e-9 * abs(value):
        return plain(value), ""
    d = _decimals(half, CI_SIG)
    h = round(half, d)
    d = _decimals(h, CI_SIG)  # 0.0996 rounds to 0.10: still two significant digits
    return _fixed(value, d), _fixed(h, d)


def joined(value: Optional[float], low: Optional[float], high: Optional[float], pm: str = " ± ") -> str:
    v, h = with_ci(value, low, high)
    return f"{v}{pm}{h}" if h else v

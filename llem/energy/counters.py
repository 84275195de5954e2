"""Helpers shared by counter-based meters: the counter's update period, and window arithmetic."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Optional


def measure_update_period(
    read: Callable[[], object],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    intervals: int = 4,
    timeout_s: float = 2.0,
    poll_s: float = 0.002,
) -> Optional[float]:
    """Poll a counter until it has changed `intervals`+1 times; the median gap between changes.

    Each change is timestamped at the read that saw it, so the result carries one poll
    (poll_s plus one read) of jitter; the median discards a missed or doubled update.
    None when the counter did not move often enough within timeout_s.
    """
    deadline = clock() + timeout_s
    last = read()
    changed_at: list[float] = []
    while clock() < deadline and len(changed_at) <= intervals:
        sleep(poll_s)
        value = read()
        if value != last:
            changed_at.append(clock())
            last = value
    gaps = [b - a for a, b in zip(changed_at, changed_at[1:])]
    return statistics.median(gaps) if len(gaps) >= 2 else None


def join_reasons(reasons) -> Optional[str]:
    seen = []
    for r in reasons:
        if r and r not in seen:
            seen.append(r)
    return "; ".join(seen) or None

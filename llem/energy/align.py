"""Window edges on counter updates, and what each edge may still be off by (the residual).

An energy counter that updates every T seconds holds, between updates, the energy up to its last
update. Read at an arbitrary instant, the begin edge therefore counts up to T of the idle time
before the window, and the end edge misses up to T of the busy time before it: the window's joules
are off by up to one counter step per edge, with a negative mean on busy windows.

Aligned edges remove most of that:
- begin: poll until the counter updates (at most ~one period), then the window starts; the idle
  energy between that update and the start is removed with the idle baseline power.
- end: after the device synchronize, poll until the next update; the idle baseline power times
  the time between the end of the work and that update is removed.
What remains is the uncertainty of the update's time (half the gap between the two reads that
straddle it) times the power, plus, at the end edge, whatever the GPU drew above its idle power
while ramping down after the work (never negative, bounded by the window's mean power).
Without a baseline power (the baseline window itself), an aligned end edge is extended to the
update instead, so the window runs from one update to another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

# Time between reads while waiting for an update: short next to the counter's ~100 ms period, long
# enough not to spin a core where a read is nearly free.
POLL_S = 0.0005


@dataclass
class Read:
    value: Optional[int]
    t0: float  # clock before the read
    t1: float  # clock after it

    @property
    def mid(self) -> float:
        return (self.t0 + self.t1) / 2


@dataclass
class Edge:
    """One device's reading at one window edge."""

    value: Optional[int]
    t_s: float  # when the value applies: the estimated update time if aligned, else the read's midpoint
    aligned: bool
    half_width_s: float = 0.0  # +/- on t_s
    wait_s: float = 0.0  # how long the edge waited for the update
    note: Optional[str] = None  # why an edge that should have been aligned was not
    error: Optional[str] = None  # the read failed

    def to_dict(self) -> dict:
        return {
            "aligned": self.aligned,
            "t_s": self.t_s,
            "half_width_s": self.half_width_s,
            "wait_s": self.wait_s,
            "note": self.note,
        }


def read_once(read: Callable[[], int], clock: Callable[[], float]) -> tuple[Read, Optional[str]]:
    t0 = clock()
    try:
        value = int(read())
        err = None
    except Exception as exc:  # NVMLError and friends: the caller turns it into a reason
        value, err = None, str(exc)
    return Read(value, t0, clock()), err


def wait_for_updates(
    reads: dict[str, Callable[[], int]], clock: Callable[[], float], sleep: Callable[[float], None], timeout_s: float
) -> dict[str, Edge]:
    """Per device, the first counter update after now; an unaligned edge (with a note) where none
    came within timeout_s or a read failed."""
    started = clock()
    last: dict[str, Read] = {}
    edges: dict[str, Edge] = {}
    for key, read in reads.items():
        r, err = read_once(read, clock)
        if err is not None:
            edges[key] = Edge(None, r.mid, False, error=err)
        else:
            last[key] = r
    deadline = started + timeout_s
    while last and clock() < deadline:
        sleep(POLL_S)
        for key in list(last):
            r, err = read_once(reads[key], clock)
            prev = last[key]
            if err is not None:
                edges[key] = Edge(None, r.mid, False, error=err)
                del last[key]
            elif r.value != prev.value:
                edges[key] = Edge(r.value, (prev.mid + r.mid) / 2, True, half_width_s=(r.t1 - prev.t0) / 2, wait_s=r.t1 - started)
                del last[key]
            else:
                last[key] = r
    for key, r in last.items():  # no update in time: use the latest read, unaligned
        edges[key] = Edge(
            r.value,
            r.mid,
            False,
            wait_s=r.t1 - started,
            note=f"the counter did not update within {timeout_s * 1e3:.0f} ms; edge not aligned",
        )
    return edges


def read_now(reads: dict[str, Callable[[], int]], clock: Callable[[], float]) -> dict[str, Edge]:
    edges = {}
    for key, read in reads.items():
        r, err = read_once(read, clock)
        edges[key] = Edge(r.value, r.mid, False, error=err)
    return edges


def edge_residual(
    edge: Edge, side: str, idle_w: Optional[float], busy_w: float, period_s: Optional[float], corrected_to: Optional[float]
) -> Optional[tuple[float, float]]:
    """(low, high) of this edge's contribution to (measured - true) joules; None if unbounded.

    side: "begin" or "end". idle_w: baseline power (None: unknown, the window's mean power is used);
    busy_w: the window's mean power; corrected_to: the instant the edge was corrected to (None:
    it covers up to t_s, i.e. it was extended to the update)."""
    p_idle = busy_w if idle_w is None else idle_w
    if edge.aligned:
        timing = max(p_idle, 0.0) * edge.half_width_s
        if side == "end" and corrected_to is not None:
            ramp = max(busy_w - p_idle, 0.0) * max(edge.t_s - corrected_to, 0.0)  # post-work power above idle
            return -timing, timing + ramp
        return -timing, timing
    if not period_s:
        return None
    if side == "begin":  # counts up to one period of what came before the window (idle)
        return 0.0, max(p_idle, 0.0) * period_s
    return -max(busy_w, 0.0) * period_s, 0.0  # misses up to one period of the window's end (busy)


def sum_ranges(ranges: list[Optional[tuple[float, float]]]) -> Optional[dict]:
    if not ranges or any(r is None for r in ranges):
        return None
    low, high = sum(r[0] for r in ranges), sum(r[1] for r in ranges)
    return {"low": low, "high": high, "expected": (low + high) / 2}

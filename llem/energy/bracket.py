"""Window edges that cannot wait: the counter's updates on either side, found by a thread.

Server mode's steady state opens and closes inside the load generator's event loop, which must not
stop for a counter update, and the GPU is busy on both sides of each edge. Read at once, such an
edge is off by up to one counter step (on an H200, 2026-12-01: vLLM's 0.8 s steady states 4-6%
off an independent poller). Bracketed instead:

- at the open (time t_o) a thread opens an aligned window on the meter: it waits for the next
  counter update (t_1 >= t_o); at the close (t_c) another thread ends it on the first update after
  t_c (t_2). Nothing in the event loop waits.
- the counter's joules between the two updates over t_2 - t_1 give the window's mean power P; the
  window's joules are P x (t_c - t_o).

This assumes the power in the stretch from t_o to t_1 equals, on average, that from t_c to t_2
(both under one counter period, inside a steady load): the error is their difference times up to
one period, and what is recorded as residual is the timing of the two updates (half the gap of the
reads that straddle each). Meters without a known counter period are read at once, as before.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Callable, Optional

from llem.energy.base import Measurement, Meter


def can_bracket(meter: Meter) -> bool:
    return bool(meter.update_period_s) and meter.measures


class Bracket:
    """One bracketed window: open() and close() return at once; result() waits for the threads."""

    def __init__(self, meter: Meter, window: str, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.meter, self.window, self.clock, self.wall = meter, window, clock, wall
        self.t_open = self.t_close = self.unix_open = None
        self._begin = self._end = None
        self._m: Optional[Measurement] = None
        self._error: Optional[BaseException] = None

    def open(self) -> None:
        self.t_open, self.unix_open = self.clock(), self.wall()
        self._begin = threading.Thread(target=self._run_begin, name=f"llem-{self.window}-open", daemon=True)
        self._begin.start()

    def close(self) -> None:
        self.t_close = self.clock()
        self._end = threading.Thread(target=self._run_end, name=f"llem-{self.window}-close", daemon=True)
        self._end.start()

    @property
    def opened(self) -> bool:
        return self._begin is not None

    @property
    def closed(self) -> bool:
        return self._end is not None

    def _run_begin(self) -> None:
        try:
            self.meter.begin(self.window, align=True)
        except BaseException as exc:  # noqa: BLE001 - re-raised in result(), in the caller's thread
            self._error = exc

    def _run_end(self) -> None:
        self._begin.join()
        if self._error is not None:
            return
        try:
            self._m = self.meter.end(self.window, align=True)
        except BaseException as exc:  # noqa: BLE001
            self._error = exc

    def result(self) -> Measurement:
        self._end.join()
        if self._error is not None:
            raise self._error
        return bracketed(self._m, self.t_open, self.t_close, self.unix_open)


def _between_updates(m: Measurement, key: str) -> Optional[tuple[float, float, dict, dict]]:
    """(joules, seconds) the counter moved between the two updates, with both edges; None if unaligned."""
    al = m.alignment.get(key) or {}
    b, e = al.get("begin") or {}, al.get("end") or {}
    if not (b.get("aligned") and e.get("aligned")) or m.energy_j.get(key) is None:
        return None
    span = e["t_s"] - b["t_s"]
    if span <= 0:
        return None
    # the meter's joules less its idle-power edge corrections are the plain counter difference
    joules = m.energy_j[key] - (al.get("begin_correction_j") or 0.0) - (al.get("end_correction_j") or 0.0)
    return joules, span, b, e


def bracketed(m: Measurement, t_open: float, t_close: float, unix_open: float) -> Measurement:
    """The window [t_open, t_close] from a measurement between the counter updates around it."""
    duration = max(t_close - t_open, 0.0)
    energy, alignment = {}, {}
    low = high = 0.0
    bounded = m.total_j is not None
    for key, value in m.energy_j.items():
        found = _between_updates(m, key)
        if value is None:
            energy[key] = None
            alignment[key] = dict(m.alignment.get(key) or {}, method="bracketed: not measured")
            continue
        if found is None:  # an edge got no update in time: scale the meter's own window to this one
            power = value / m.duration_s if m.duration_s > 0 else 0.0
            energy[key] = power * duration
            alignment[key] = {"method": "rescaled (no counter update at an edge)", "mean_power_w": power,
                              "meter_window_s": m.duration_s, **(m.alignment.get(key) or {})}
            bounded = False
            continue
        joules, span, b, e = found
        power = joules / span
        energy[key] = power * duration
        timing = abs(power) * (b.get("half_width_s", 0.0) + e.get("half_width_s", 0.0))
        low, high = low - timing, high + timing
        alignment[key] = {"method": "bracketed", "open_s": t_open, "close_s": t_close, "begin_update_s": b["t_s"],
                          "end_update_s": e["t_s"], "mean_power_w": power, "begin": b, "end": e}
    total = None if any(v is None for v in energy.values()) else sum(energy.values())
    return replace(m, duration_s=duration, energy_j=energy, total_j=total, interval_monotonic_s=[t_open, t_close],
                   interval_unix_s=[unix_open, unix_open + duration], alignment=alignment,
                   residual_j={"low": low, "high": high, "expected": 0.0} if bounded and total is not None else None)

"""Window edges that cannot wait: the counter's updates on either side, found by a thread.

Server mode's steady state opens and closes inside the load generator's event loop, which must not
stop for a counter update, and the GPU is busy on both sides of each edge. Read at once, such an
edge is off by up to one counter step (on short steady states, several percent against an
independent poller: docs/measurements.md, the per-window poller check). Bracketed instead:

- at the open (time t_o) a thread opens an aligned window on the meter: it waits for the next
  counter update (u_1 >= t_o); at the close (t_c) another thread ends it on the first update after
  t_c (u_2). Nothing in the event loop waits.
- the window becomes [u_1, u_2]: the interval between the two counter updates that bound the
  energy. Its joules are the counter's difference between them, with no assumption about the power
  at the edges, and the caller counts the work (client-timestamped tokens and requests) over the
  same interval (llem/harness/server.py). The window therefore starts up to one counter period
  after the load's open and ends up to one period after its close (in the tail's first requests).

Scaling the mean power between the updates to [t_o, t_c] instead (what this module did before)
assumes the power from t_o to u_1 equals that from t_c to u_2; right after an open the first requests
are still in flight and the GPU near idle, so that assumption biased short windows upward (+2.75%
on 1 s at 150 ms of idle then 250 W). What remains is the updates' timing: the tokens are counted
over the estimated update times, each known to half the gap of the reads that straddle it; that
times the power is the residual. A device whose own updates are not the bounding ones (a second
GPU's counter, RAPL) is scaled from its own span to [u_1, u_2], with the stretch it did not cover
times its mean power added to the residual on both sides. Meters without a known counter period are
read at once, as before.
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

    def __init__(
        self, meter: Meter, window: str, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ):
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


def _between_updates(m: Measurement, key: str) -> Optional[tuple[float, dict, dict]]:
    """(joules the counter moved between its two updates, begin edge, end edge); None if unaligned."""
    al = m.alignment.get(key) or {}
    b, e = al.get("begin") or {}, al.get("end") or {}
    if not (b.get("aligned") and e.get("aligned")) or m.energy_j.get(key) is None or e["t_s"] <= b["t_s"]:
        return None
    # the meter's joules less its idle-power edge corrections are the plain counter difference
    joules = m.energy_j[key] - (al.get("begin_correction_j") or 0.0) - (al.get("end_correction_j") or 0.0)
    return joules, b, e


def _not_measured(m: Measurement, reason: str, t_open: float, t_close: float, unix_open: float) -> Measurement:
    return replace(
        m,
        duration_s=max(t_close - t_open, 0.0),
        energy_j={k: None for k in m.energy_j},
        total_j=None,
        reason=reason,
        interval_monotonic_s=[t_open, t_close],
        interval_unix_s=[unix_open, unix_open + max(t_close - t_open, 0.0)],
        residual_j=None,
    )


def bracketed(m: Measurement, t_open: float, t_close: float, unix_open: float) -> Measurement:
    """The window between the counter updates around [t_open, t_close] (the load's edges), from a
    measurement the meter took between them; its interval_monotonic_s is the interval the caller must
    count the work over. A non-positive [t_open, t_close]: not measured (None with the reason), never
    0 J. No device whose counter updated at both edges in time: the meter's own window scaled to the
    load's edges, with no bound (method "rescaled", residual null)."""
    if not t_close > t_open:
        return _not_measured(
            m,
            f"the steady-state window closed {t_open - t_close:.3f} s before or at its open "
            f"(open {t_open:.3f} s, close {t_close:.3f} s on the monotonic clock): no interval "
            f"to measure",
            t_open,
            t_close,
            unix_open,
        )
    bounding = next((k for k in m.energy_j if _between_updates(m, k) is not None), None)
    if bounding is None:
        return _fallback(m, t_open, t_close, unix_open)
    _, b0, e0 = _between_updates(m, bounding)
    start, stop = b0["t_s"], e0["t_s"]
    duration = stop - start
    energy, alignment = {}, {}
    low = high = 0.0
    for key, value in m.energy_j.items():
        own = m.alignment.get(key) or {}
        if value is None:
            energy[key] = None
            alignment[key] = dict(own, method="bracketed: not measured")
            continue
        found = _between_updates(m, key)
        step = 0.0
        if found is not None:
            joules, b, e = found
        elif own.get("interval_monotonic_s"):  # a composite's part read at once on a fast counter (RAPL, ~1 ms)
            t0, t1 = own["interval_monotonic_s"]
            joules, b, e = value, {"t_s": t0, "aligned": False}, {"t_s": t1, "aligned": False}
        else:  # edges read at once (no update in time): the counter's difference over the reads' span
            b, e = own.get("begin") or {}, own.get("end") or {}
            joules = value - (own.get("begin_correction_j") or 0.0) - (own.get("end_correction_j") or 0.0)
            step = 2 * (m.update_period_s or 0.0)  # up to one counter step per edge
        span = (e.get("t_s") or 0.0) - (b.get("t_s") or 0.0)
        if span <= 0:
            return _fallback(m, t_open, t_close, unix_open)
        power = joules / span
        uncovered = abs(b["t_s"] - start) + abs(stop - e["t_s"])  # zero for the bounding device
        energy[key] = joules + power * (duration - span)
        timing = abs(power) * (b.get("half_width_s", 0.0) + e.get("half_width_s", 0.0) + step)
        spread = timing + abs(power) * uncovered
        low, high = low - spread, high + spread
        alignment[key] = {
            "method": "bracketed",
            "window": "between counter updates",
            "open_s": t_open,
            "close_s": t_close,
            "begin_update_s": b["t_s"],
            "end_update_s": e["t_s"],
            "window_s": [start, stop],
            "bounding_device": bounding,
            "mean_power_w": power,
            "scaled_from_s": span if key != bounding else None,
            "begin": b,
            "end": e,
        }
    total = None if any(v is None for v in energy.values()) else sum(energy.values())
    return replace(
        m,
        duration_s=duration,
        energy_j=energy,
        total_j=total,
        interval_monotonic_s=[start, stop],
        interval_unix_s=[unix_open + (start - t_open), unix_open + (stop - t_open)],
        alignment=alignment,
        residual_j={"low": low, "high": high, "expected": 0.0} if total is not None else None,
    )


def _fallback(m: Measurement, t_open: float, t_close: float, unix_open: float) -> Measurement:
    """No device's counter updated at both edges in time: the meter's own window scaled to the load's
    edges [t_open, t_close], with no bound (the edges may be off by up to one counter step each)."""
    duration = t_close - t_open
    energy, alignment = {}, {}
    for key, value in m.energy_j.items():
        if value is None:
            energy[key] = None
            alignment[key] = dict(m.alignment.get(key) or {}, method="bracketed: not measured")
            continue
        power = value / m.duration_s if m.duration_s > 0 else None
        energy[key] = None if power is None else power * duration
        alignment[key] = {
            "method": "rescaled (no counter update at an edge)",
            "mean_power_w": power,
            "meter_window_s": m.duration_s,
            **(m.alignment.get(key) or {}),
        }
    total = None if any(v is None for v in energy.values()) else sum(energy.values())
    reason = m.reason if total is not None or m.reason else "the meter's own window has no duration"
    return replace(
        m,
        duration_s=duration,
        energy_j=energy,
        total_j=total,
        reason=reason,
        interval_monotonic_s=[t_open, t_close],
        interval_unix_s=[unix_open, unix_open + duration],
        alignment=alignment,
        residual_j=None,
    )

"""A meter that measures time only and says why there are no joules."""

from __future__ import annotations

import time

from llem.energy.base import Measurement, Meter


class NullMeter(Meter):
    name = "none"

    def __init__(self, reason: str):
        self.reason = reason
        self._t0: dict[str, float] = {}

    def begin(self, window: str, align: bool = True) -> None:
        self._t0[window] = time.perf_counter()

    def end(self, window: str, align: bool = True) -> Measurement:
        duration = time.perf_counter() - self._t0.pop(window)
        return Measurement(meter=self.name, duration_s=duration, total_j=None, reason=self.reason)

    def describe(self) -> dict:
        return {"meter": self.name, "reason": self.reason}

    @property
    def measures(self) -> bool:
        return False

"""Meters that compose: GPU + CPU + DRAM as one meter, and a placeholder for a part that is missing."""

from __future__ import annotations

import time

from llem.energy.base import Measurement, Meter
from llem.energy.counters import join_reasons


class MissingPart(Meter):
    """Devices the job uses but nothing can measure: each is None with the reason, so totals stay None."""

    def __init__(self, name: str, keys: list[str], reason: str):
        self.name, self.keys, self.reason = name, keys, reason
        self._t0: dict[str, float] = {}

    def begin(self, window: str) -> None:
        self._t0[window] = time.monotonic()

    def end(self, window: str) -> Measurement:
        return Measurement(meter=self.name, duration_s=time.monotonic() - self._t0.pop(window),
                           energy_j={k: None for k in self.keys}, total_j=None, reason=self.reason)

    def describe(self) -> dict:
        return {"meter": self.name, "devices": self.keys, "measured": False, "reason": self.reason}

    @property
    def measures(self) -> bool:
        return False


class CompositeMeter(Meter):
    """Sum of parts; per-device keys from every part. The total is None unless every part measured."""

    def __init__(self, parts: list[Meter], notes: list[str] | None = None):
        if not parts:
            raise ValueError("a composite meter needs at least one part")
        self.parts = parts
        self.notes = notes or []
        self.name = "+".join(p.name for p in parts)

    def begin(self, window: str) -> None:
        # Reverse order at the end, so the slowest reader (the GPU, first) brackets the others.
        for p in self.parts:
            p.begin(window)

    def end(self, window: str) -> Measurement:
        ms = [p.end(window) for p in reversed(self.parts)][::-1]
        energy, raw = {}, {}
        for m in ms:
            energy.update(m.energy_j)
            raw.update(m.raw)
        totals = [m.total_j for m in ms]
        periods = [m.update_period_s for m in ms if m.update_period_s]
        return Measurement(
            meter=self.name,
            duration_s=max(m.duration_s for m in ms),
            energy_j=energy,
            total_j=None if any(t is None for t in totals) else sum(totals),
            reason=join_reasons(m.reason for m in ms),
            update_period_s=max(periods) if periods else None,  # the coarsest counter sets the quantisation
            raw=raw,
        )

    def describe(self) -> dict:
        return {"meter": self.name, "parts": [p.describe() for p in self.parts], "notes": self.notes}

    @property
    def measures(self) -> bool:
        return any(p.measures for p in self.parts)

    def close(self) -> None:
        for p in self.parts:
            p.close()

"""Meters that compose: GPU + CPU + DRAM as one meter, and a placeholder for a part that is missing."""

from __future__ import annotations

import time

from llem.energy.align import sum_ranges
from llem.energy.base import Measurement, Meter
from llem.energy.counters import join_reasons


class MissingPart(Meter):
    """Devices the job uses but nothing can measure: each is None with the reason, so totals stay None."""

    def __init__(self, name: str, keys: list[str], reason: str):
        self.name, self.keys, self.reason = name, keys, reason
        self._t0: dict[str, float] = {}

    def begin(self, window: str, align: bool = True) -> None:
        self._t0[window] = time.monotonic()

    def end(self, window: str, align: bool = True) -> Measurement:
        return Measurement(
            meter=self.name,
            duration_s=time.monotonic() - self._t0.pop(window),
            energy_j={k: None for k in self.keys},
            total_j=None,
            reason=self.reason,
        )

    def describe(self) -> dict:
        return {"meter": self.name, "devices": self.keys, "measured": False, "reason": self.reason}

    @property
    def measures(self) -> bool:
        return False


class CompositeMeter(Meter):
    """Sum of parts; per-device keys from every part. The total is None unless every part measured."""

    def __init__(self, parts: list[Meter], notes: list[str] | None = None, clock=time.monotonic):
        if not parts:
            raise ValueError("a composite meter needs at least one part")
        self.parts = parts
        self.notes = notes or []
        self.name = "+".join(p.name for p in parts)
        self._opened: dict[str, list] = {}
        self.clock = clock  # the parts' clock: tests replay counters on virtual time

    @property
    def update_period_s(self):
        """The coarsest counter among the parts sets the composite's quantisation."""
        periods = [p.update_period_s for p in self.parts if p.update_period_s]
        return max(periods) if periods else None

    def begin(self, window: str, align: bool = True) -> None:
        # Reverse order at the end, so the slowest reader (the GPU, first) brackets the others.
        opened = []
        for p in self.parts:
            p.begin(window, align)
            opened.append(self.clock())  # a part that reads at once (RAPL) read just before this
        self._opened[window] = opened

    def end(self, window: str, align: bool = True) -> Measurement:
        closed = []
        for p in reversed(self.parts):
            closed.append(self.clock())  # ... and just after this
            closed[-1] = (closed[-1], p.end(window, align))
        ms = [m for _, m in closed][::-1]
        ends = [t for t, _ in closed][::-1]
        opened = self._opened.pop(window, None) or [None] * len(ms)
        energy, raw, alignment, flags = {}, {}, {}, []
        for m, t0, t1 in zip(ms, opened, ends):
            energy.update(m.energy_j)
            raw.update(m.raw)
            alignment.update(m.alignment)
            flags += m.flags
            # a part's devices cover the part's own interval, not the composite's longest: RAPL's joules over
            # the GPU's update-to-update time would make its idle power ~1% low
            span = m.interval_monotonic_s or ([t0, t1] if t0 is not None else None)
            for key in m.energy_j:
                if key not in m.alignment:
                    alignment[key] = {"covered_s": m.duration_s, "interval_monotonic_s": span}
        total = None if any(m.total_j is None for m in ms) else sum(m.total_j for m in ms)
        residual = None
        if total is not None:
            # a part without a residual of its own (RAPL: ~1 ms updates) adds none
            residual = sum_ranges([(m.residual_j["low"], m.residual_j["high"]) if m.residual_j else (0.0, 0.0) for m in ms])
        timed = next((m for m in ms if m.interval_monotonic_s), None)
        periods = [m.update_period_s for m in ms if m.update_period_s]
        return Measurement(
            meter=self.name,
            duration_s=max(m.duration_s for m in ms),
            energy_j=energy,
            total_j=total,
            reason=join_reasons(m.reason for m in ms),
            update_period_s=max(periods) if periods else None,  # the coarsest counter sets the quantisation
            raw=raw,
            interval_monotonic_s=timed.interval_monotonic_s if timed else None,
            interval_unix_s=timed.interval_unix_s if timed else None,
            alignment=alignment,
            residual_j=residual,
            flags=flags,
        )

    def describe(self) -> dict:
        return {"meter": self.name, "parts": [p.describe() for p in self.parts], "notes": self.notes}

    @property
    def measures(self) -> bool:
        return any(p.measures for p in self.parts)

    def check_devices(self, cuda_uuids) -> list[str]:
        return [f for p in self.parts for f in p.check_devices(cuda_uuids)]

    def set_baseline(self, power_w_per_device) -> None:
        for p in self.parts:
            p.set_baseline(power_w_per_device)

    def close(self) -> None:
        for p in self.parts:
            p.close()

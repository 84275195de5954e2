"""A meter plus observers that see the same window edges (used to cross-check llem's reads)."""

from __future__ import annotations

from llem.energy.base import Measurement, Meter


class ObservedMeter(Meter):
    """llem's meter reads first at both edges, then each observer: both windows have equal length,
    shifted by the observers' read time, so their joules may differ by at most one counter step
    per edge."""

    def __init__(self, inner: Meter, observers: list):
        self.inner, self.observers = inner, observers
        self.name = inner.name

    def begin(self, window: str) -> None:
        self.inner.begin(window)
        for o in self.observers:
            o.begin(window)

    def end(self, window: str) -> Measurement:
        m = self.inner.end(window)
        for o in self.observers:
            o.end(window)
        return m

    def describe(self) -> dict:
        return self.inner.describe()

    @property
    def measures(self) -> bool:
        return self.inner.measures

    def close(self) -> None:
        self.inner.close()

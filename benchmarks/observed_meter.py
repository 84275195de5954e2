"""A meter plus observers that see the same window edges: benchmarks/gpu_energy_proof.py reads the raw
counter (and Zeus) beside llem's own reads with it. Benchmark code: llem itself never wraps its meter."""

from __future__ import annotations

from llem.energy.base import Measurement, Meter


class ObservedMeter(Meter):
    """llem's meter reads first at both edges, then each observer: both windows have equal length,
    shifted by the observers' read time, so their joules may differ by at most one counter step
    per edge."""

    def __init__(self, inner: Meter, observers: list):
        self.inner, self.observers = inner, observers
        self.name = inner.name

    def begin(self, window: str, align: bool = True) -> None:
        self.inner.begin(window, align)
        for o in self.observers:
            o.begin(window)

    def end(self, window: str, align: bool = True) -> Measurement:
        m = self.inner.end(window, align)
        for o in self.observers:
            o.end(window)
        return m

    def describe(self) -> dict:
        return self.inner.describe()

    @property
    def measures(self) -> bool:
        return self.inner.measures

    @property
    def update_period_s(self):
        return self.inner.update_period_s

    def check_devices(self, cuda_uuids) -> list[str]:
        return self.inner.check_devices(cuda_uuids)

    def set_baseline(self, power_w_per_device) -> None:
        self.inner.set_baseline(power_w_per_device)

    def close(self) -> None:
        self.inner.close()


def observe_windows(observers: list) -> None:
    """Make every meter the measurement protocol creates in this process an ObservedMeter with these
    observers (llem.harness.steps looks create_meter up at call time)."""
    import llem.harness.steps

    inner = llem.harness.steps.create_meter

    def create_meter(energy, device, gpus):
        return ObservedMeter(inner(energy, device, gpus), list(observers))

    llem.harness.steps.create_meter = create_meter

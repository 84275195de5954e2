"""Test helpers for the energy tests: a virtual clock, the recorded trace, a fake powercap tree."""

from __future__ import annotations

import csv
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
H100_TRACE = DATA / "nvml_trace_h100.csv"


class VirtualClock:
    """now()/sleep() on virtual time, so trace replays are instant and deterministic."""

    def __init__(self, start: float = 1000.0):
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += max(0.0, dt)


def trace_rows() -> list[dict]:
    with open(H100_TRACE, newline="") as f:
        return list(csv.DictReader(f))


def counter_at(rows: list[dict], t: float) -> int:
    """The trace's energy counter (mJ) in effect at trace time t (last row at or before t)."""
    value = int(rows[0]["energy_mj"])
    for r in rows:
        if float(r["t_s"]) > t:
            break
        value = int(r["energy_mj"])
    return value


def phase_span(rows: list[dict], phase: str) -> tuple[float, float]:
    ts = [float(r["t_s"]) for r in rows if r["phase"] == phase]
    return ts[0], ts[-1]


def make_zone(d: Path, name: str, energy_uj: int, max_uj: int = 262143328850) -> Path:
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def set_energy(d: Path, energy_uj: int) -> None:
    (d / "energy_uj").write_text(f"{energy_uj}\n")


class ScheduledNvml:
    """Builds a FakeNvml whose energy counter integrates a power schedule the test writes as it goes.

    Like the real counter (H100/H200: one update every ~100 ms), it shows the energy only up to its
    latest update: updates fall at phase + k * period. The true energy over any interval is known
    exactly, so a window's error can be checked against its stated residual.
    """

    def __new__(
        cls, clock, period: float = 0.1, phase: float = 0.0, idle_w: float = 120.0, read_cost: float = 0.0039, schedule=None, **kw
    ):
        from llem.testing.fake_nvml import FakeHandle, FakeNvml, read_trace

        class _Scheduled(FakeNvml):
            def set_power(self, watts: float) -> None:
                self.changes.append((self.trace_time(), watts))

            def energy_j(self, t: float) -> float:
                total = 0.0
                for i, (t0, watts) in enumerate(self.changes):
                    t1 = self.changes[i + 1][0] if i + 1 < len(self.changes) else float("inf")
                    if t <= t0:
                        break
                    total += watts * (min(t, t1) - t0)
                return total

            def _energy_mj(self, h, t):
                tick = phase + ((t - phase) // period) * period
                return int(1000 * self.energy_j(tick) * h.energy_scale)

        nvml = _Scheduled(
            read_trace(H100_TRACE),
            devices=kw.pop("devices", None) or [FakeHandle(0, "GPU-sched-0")],
            clock=clock.now,
            sleep=clock.sleep,
            read_cost_s=read_cost,
            **kw,
        )
        nvml.changes = list(schedule or [(0.0, idle_w)])
        return nvml

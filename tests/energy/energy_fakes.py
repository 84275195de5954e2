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

"""The meter contract: begin/end a named window -> time and joules per device, or None with a reason.

A missing measurement is None with a reason, never 0.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Optional


@dataclass
class Measurement:
    meter: str
    duration_s: float
    energy_j: dict[str, Optional[float]] = field(default_factory=dict)  # per device, e.g. "gpu0", "cpu-package-0"
    total_j: Optional[float] = None  # sum over devices; None unless every device measured
    reason: Optional[str] = None  # why total_j (or a device) is None
    update_period_s: Optional[float] = None  # how often the underlying counter moves
    # Raw counter readings at the window edges, per device: {"begin": x, "end": y, "unit": "mJ"}.
    # Kept so that every joule in a result can be traced back to two hardware reads.
    raw: dict[str, dict] = field(default_factory=dict)
    # The interval the joules cover, on CLOCK_MONOTONIC (system-wide on Linux, shared with other
    # processes) and on the wall clock (the sampler's time axis): [begin, end] in seconds.
    interval_monotonic_s: Optional[list[float]] = None
    interval_unix_s: Optional[list[float]] = None
    # Edge alignment per device (llem/energy/align.py): waits, tick times, corrections, notes.
    alignment: dict[str, dict] = field(default_factory=dict)
    # What the edges may still be off by, in J, summed over devices: the range of (measured - true)
    # as {"low", "high", "expected"} (docs/energy.md, "residual"); None where no bound is known.
    residual_j: Optional[dict] = None
    # Questionable conditions the meter saw itself (foreign processes, MIG), with their evidence.
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Meter(abc.ABC):
    name: str = "base"
    update_period_s: Optional[float] = None  # how often the meter's counter moves; None where it has none

    @abc.abstractmethod
    def begin(self, window: str, align: bool = True) -> None:
        """Open a window. align=False: read at once, never wait for a counter update (for edges
        inside an event loop, e.g. server-mode steady-state windows)."""

    @abc.abstractmethod
    def end(self, window: str, align: bool = True) -> Measurement: ...

    def set_baseline(self, power_w_per_device: Optional[dict]) -> None:
        """Idle power per device key, for the end-edge correction of aligned meters (default: unused)."""

    def check_devices(self, cuda_uuids: Optional[list[Optional[str]]]) -> list[str]:
        """Once the engine has started CUDA: its device UUIDs (per logical GPU; None where it cannot
        tell) against the devices this meter reads. Returns flags with evidence (default: none)."""
        return []

    def describe(self) -> dict:
        """What this meter measures (devices, update period, caveats such as 'estimate')."""
        return {"meter": self.name}

    @property
    def measures(self) -> bool:
        """Whether any device yields joules at all (False: every window is None with a reason)."""
        return True

    def close(self) -> None:
        pass

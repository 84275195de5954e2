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

    def to_dict(self) -> dict:
        return asdict(self)


class Meter(abc.ABC):
    name: str = "base"

    @abc.abstractmethod
    def begin(self, window: str) -> None: ...

    @abc.abstractmethod
    def end(self, window: str) -> Measurement: ...

    def describe(self) -> dict:
        """What this meter measures (devices, update period, caveats such as 'estimate')."""
        return {"meter": self.name}

    @property
    def measures(self) -> bool:
        """Whether any device yields joules at all (False: every window is None with a reason)."""
        return True

    def close(self) -> None:
        pass

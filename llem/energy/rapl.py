"""RAPL meter: CPU package and DRAM energy counters under /sys/class/powercap (Intel and AMD).

Only package zones and their DRAM subzones are counted: core/uncore are parts of the package and
psys overlaps everything, so adding them would count joules twice. Counters wrap at
max_energy_range_uj; one wrap per window is undone. Two wraps inside one window cannot be told
from one by any reader: a 262 kJ range (typical package) wraps every ~15 min at 300 W, so keep
CPU-metered windows shorter than that.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from llem.energy.base import Measurement, Meter
from llem.energy.counters import join_reasons, measure_update_period

DEFAULT_ROOT = "/sys/class/powercap"
ROOT_ENV = "LLEM_POWERCAP_ROOT"
_ZONE_DIR = re.compile(r"^(intel|amd)-rapl:\d+(:\d+)?$")  # not intel-rapl-mmio: it duplicates the package


class RaplUnavailable(Exception):
    """RAPL cannot measure here; the message says why in one sentence."""


@dataclass
class RaplZone:
    key: str  # "cpu-package-0", "dram-0"
    path: Path
    max_range_uj: int


def powercap_root(root=None) -> Path:
    return Path(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def _zone_key(name: str, zone_dir: str) -> Optional[str]:
    """cpu-package-N for package zones, dram-N for DRAM; N = the package index (from the name, else
    from the directory, e.g. amd-rapl:0 named just 'package'). Other zones are parts or overlaps."""
    package_index = zone_dir.split(":")[1]
    if name.startswith("package"):
        m = re.search(r"-(\d+)$", name)
        return f"cpu-package-{m.group(1) if m else package_index}"
    if name == "dram":
        return f"dram-{package_index}"
    return None


def discover_zones(root=None) -> list[RaplZone]:
    """Package and DRAM zones under the powercap root; raises RaplUnavailable with the reason."""
    base = powercap_root(root)
    if not base.is_dir():
        raise RaplUnavailable(f"there is no RAPL here: {base} does not exist")
    found = set()
    for p in base.iterdir():  # real sysfs lists every zone here (symlinks); fake trees may nest
        if _ZONE_DIR.match(p.name) and p.is_dir():
            found.add(p.resolve())
            found.update(c.resolve() for c in p.iterdir() if _ZONE_DIR.match(c.name) and c.is_dir())
    dirs = sorted(found)
    zones, unreadable = [], []
    for d in dirs:
        try:
            name = (d / "name").read_text().strip()
        except OSError:
            continue
        key = _zone_key(name, d.name)
        if key is None:
            continue
        try:
            int((d / "energy_uj").read_text())
            max_uj = int((d / "max_energy_range_uj").read_text())
        except PermissionError:
            unreadable.append(str(d / "energy_uj"))
            continue
        except (OSError, ValueError):
            continue
        zones.append(RaplZone(key, d, max_uj))
    if unreadable and not zones:
        raise RaplUnavailable(
            f"RAPL is present but {unreadable[0]} is not readable by this user (recent kernels make energy_uj "
            f"root-only): run as root or grant read access, e.g. sudo chmod a+r {base}/*/energy_uj"
        )
    if not zones:
        raise RaplUnavailable(f"no RAPL package or DRAM zone under {base}")
    return sorted(zones, key=lambda z: (not z.key.startswith("cpu"), z.key))


class RaplMeter(Meter):
    name = "rapl"

    def __init__(
        self,
        root=None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        calibrate: bool = True,
    ):
        self.root = powercap_root(root)
        self.zones = discover_zones(self.root)
        self.clock = clock
        self._open: dict[str, tuple[float, dict]] = {}
        first = self.zones[0]
        self.update_period_s = None
        if calibrate:  # RAPL moves about every millisecond: a short, fine poll is enough
            self.update_period_s = measure_update_period(
                lambda: self._read_zone(first), clock=clock, sleep=sleep, timeout_s=0.2, poll_s=0.0002
            )

    @staticmethod
    def _read_zone(z: RaplZone) -> Optional[int]:
        try:
            return int((z.path / "energy_uj").read_text())
        except (OSError, ValueError):
            return None

    def _read(self) -> tuple[float, dict]:
        before = self.clock()
        values = {z.key: self._read_zone(z) for z in self.zones}
        return (before + self.clock()) / 2, values

    def begin(self, window: str, align: bool = True) -> None:
        self._open[window] = self._read()

    def end(self, window: str, align: bool = True) -> Measurement:
        t1, end_uj = self._read()
        t0, begin_uj = self._open.pop(window)
        energy, reasons, raw = {}, [], {}
        for z in self.zones:
            b, e = begin_uj[z.key], end_uj[z.key]
            raw[z.key] = {"begin": b, "end": e, "unit": "uJ", "max_energy_range_uj": z.max_range_uj}
            if b is None or e is None:
                energy[z.key] = None
                reasons.append(f"{z.key}: reading {z.path / 'energy_uj'} failed")
                continue
            delta = e - b
            if delta < 0:  # wrapped once at max_energy_range_uj
                delta += z.max_range_uj
            if delta == 0:  # a live package always draws: a zone that did not move is stalled, not 0 J
                energy[z.key] = None
                reasons.append(
                    f"{z.key}: {z.path / 'energy_uj'} did not move over the {t1 - t0:.2f} s window "
                    f"(a stalled or virtualised counter): that is no measurement, not 0 J"
                )
                continue
            energy[z.key] = delta / 1e6
        total = None if any(v is None for v in energy.values()) else sum(energy.values())
        return Measurement(
            meter=self.name,
            duration_s=t1 - t0,
            energy_j=energy,
            total_j=total,
            reason=join_reasons(reasons),
            update_period_s=self.update_period_s,
            raw=raw,
        )

    def describe(self) -> dict:
        return {
            "meter": self.name,
            "measures": "RAPL energy counters (CPU package and DRAM) from powercap, read at window edges",
            "root": str(self.root),
            "devices": {z.key: str(z.path) for z in self.zones},
            "update_period_s": self.update_period_s,
            "caveats": [
                "RAPL is a model-assisted on-die estimate on some CPUs (notably pre-Haswell and AMD "
                "DRAM); it covers CPU and DRAM only, not the rest of the host"
            ],
        }

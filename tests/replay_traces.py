"""Synthetic NVML traces for the test-only replay hook (LLEM_FAKE_NVML_TRACE): known joules."""

from __future__ import annotations

import csv
from pathlib import Path

POWER_W, STEP_S = 300.0, 0.01
COLUMNS = ["t_s", "phase", "energy_mj", "power_instant_mw", "power_avg_mw", "temp_c",
           "sm_clock_mhz", "throttle_reasons", "mem_used_mib"]


def constant_power_trace(path: Path, seconds: float = 60.0, counter_step_s: float = STEP_S,
                         throttle_reasons: int = 0) -> None:
    """A GPU drawing exactly POWER_W, its counter stepping every counter_step_s (rows every STEP_S;
    the fake loops it); throttle_reasons: the clock-event bits of every row (0x4: power-capped)."""
    per_step = max(1, round(counter_step_s / STEP_S))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(int(seconds / STEP_S) + 1):
            counted = (i // per_step) * per_step * STEP_S
            w.writerow([f"{i * STEP_S:.4f}", "busy", int(counted * POWER_W * 1000), int(POWER_W * 1000),
                        int(POWER_W * 1000), 60, 1980, throttle_reasons, 1234])

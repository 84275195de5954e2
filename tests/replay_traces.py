"""Synthetic NVML traces for the test-only replay hook (LLEM_FAKE_NVML_TRACE): known joules.

The counter steps every STEP_S = 100 ms, as a real NVIDIA counter does (the shipped H100 trace,
tests/data/nvml_trace_h100.csv, steps at a median 100 ms in every phase), so end-to-end runs meet
real quantisation: a window's joules are exact to under one step (POWER_W * STEP_S = 30 J), and
windows shorter than energy.min_window_updates steps are flagged short.
"""

from __future__ import annotations

import csv
from pathlib import Path

POWER_W, STEP_S = 300.0, 0.1
STEP_J = POWER_W * STEP_S  # one counter step
COLUMNS = ["t_s", "phase", "energy_mj", "power_instant_mw", "power_avg_mw", "temp_c",
           "sm_clock_mhz", "throttle_reasons", "mem_used_mib"]


def constant_power_trace(path: Path, seconds: float = 60.0) -> None:
    """A GPU drawing exactly POWER_W, its counter stepping every STEP_S (the fake loops it).

    At trace time t the counter reads floor(t / STEP_S) steps, so over any window of d seconds it
    moves by POWER_W * d to within (strictly less than) one step."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(int(seconds / STEP_S) + 1):
            w.writerow([f"{i * STEP_S:.4f}", "busy", int(i * STEP_S * POWER_W * 1000), int(POWER_W * 1000),
                        int(POWER_W * 1000), 60, 1980, 0, 1234])

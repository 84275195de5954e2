"""Synthetic NVML traces for the test-only replay hook (LLEM_FAKE_NVML_TRACE): known joules.

The counter steps every STEP_S = 100 ms, as a real NVIDIA counter does (the shipped H100 trace,
tests/data/nvml_trace_h100.csv, steps at a median 100 ms in every phase), so end-to-end runs meet
real quantisation: a window's counter delta is POWER_W x its length to under one step
(POWER_W * STEP_S = 30 J), and windows shorter than energy.min_window_updates steps are flagged short.
"""

from __future__ import annotations

import csv
from pathlib import Path

POWER_W = 300.0
STEP_S = 0.1  # the counter's update period by default, as on a real NVIDIA GPU
STEP_J = POWER_W * STEP_S  # one counter step
ROW_S = 0.01  # one trace row every 10 ms, as the recorded trace was sampled
COLUMNS = ["t_s", "phase", "energy_mj", "power_instant_mw", "power_avg_mw", "temp_c",
           "sm_clock_mhz", "throttle_reasons", "mem_used_mib"]


def constant_power_trace(path: Path, seconds: float = 60.0, counter_step_s: float = STEP_S,
                         throttle_reasons: int = 0) -> None:
    """A GPU drawing exactly POWER_W, its counter stepping every counter_step_s (default STEP_S,
    100 ms as on a real GPU; rows every ROW_S; the fake loops it); throttle_reasons: the
    clock-event bits of every row (0x4: power-capped).

    At trace time t the counter reads floor(t / counter_step_s) steps, so over any window of d
    seconds it moves by POWER_W * d to within (strictly less than) one step."""
    per_step = max(1, round(counter_step_s / ROW_S))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(int(seconds / ROW_S) + 1):
            counted_mj = round((i // per_step) * per_step * ROW_S * POWER_W * 1000)  # whole steps, no float noise
            w.writerow([f"{i * ROW_S:.4f}", "busy", counted_mj, int(POWER_W * 1000),
                        int(POWER_W * 1000), 60, 1980, throttle_reasons, 1234])

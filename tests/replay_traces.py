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
COLUMNS = [
    "t_s",
    "phase",
    "energy_mj",
    "power_instant_mw",
    "power_avg_mw",
    "temp_c",
    "sm_clock_mhz",
    "throttle_reasons",
    "mem_used_mib",
]


def constant_power_trace(path: Path, seconds: float = 60.0, counter_step_s: float = STEP_S, throttle_reasons: int = 0) -> None:
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
            w.writerow(
                [
                    f"{i * ROW_S:.4f}",
                    "busy",
                    counted_mj,
                    int(POWER_W * 1000),
                    int(POWER_W * 1000),
                    60,
                    1980,
                    throttle_reasons,
                    1234,
                ]
            )


def ramp_power(
    open_s: float,
    close_s: float,
    idle_w: float = 120.0,
    busy_w: float = 250.0,
    idle_after_open_s: float = 0.15,
    ramp_up_s: float = 0.05,
    busy_after_close_s: float = 0.2,
    ramp_down_s: float = 0.3,
):
    """A server's steady state as its GPU draws it: idle for idle_after_open_s after the load's open (the
    first requests are in flight), a linear ramp to busy_w, busy until busy_after_close_s after the close
    (the tail's requests still run), then a linear ramp down to idle. Returns power(t) in W."""
    up0, up1 = open_s + idle_after_open_s, open_s + idle_after_open_s + ramp_up_s
    down0, down1 = close_s + busy_after_close_s, close_s + busy_after_close_s + ramp_down_s

    def power(t: float) -> float:
        if t < up0 or t >= down1:
            return idle_w
        if t < up1:
            return idle_w + (busy_w - idle_w) * (t - up0) / ramp_up_s
        if t < down0:
            return busy_w
        return busy_w - (busy_w - idle_w) * (t - down0) / ramp_down_s

    return power


def power_trace(path: Path, power, seconds: float, counter_step_s: float = STEP_S, row_s: float = 0.001) -> list[float]:
    """A trace of power(t) (W; each row holds its value at the row's start for row_s), its counter stepping
    every counter_step_s to the exact integral up to that step. Returns the integral at every row (J), for
    the truth over any interval (true_joules)."""
    n = int(round(seconds / row_s)) + 1
    per_step = max(1, round(counter_step_s / row_s))
    cumulative = [0.0]
    for i in range(n - 1):
        cumulative.append(cumulative[-1] + power(i * row_s) * row_s)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(n):
            counted_mj = round(cumulative[(i // per_step) * per_step] * 1000)
            w.writerow(
                [
                    f"{i * row_s:.6f}",
                    "ramp",
                    counted_mj,
                    int(power(i * row_s) * 1000),
                    int(power(i * row_s) * 1000),
                    60,
                    1980,
                    0,
                    1234,
                ]
            )
    return cumulative


def true_joules(cumulative: list[float], a: float, b: float, row_s: float = 0.001) -> float:
    """The trace's exact joules over [a, b] (trace seconds), interpolating inside a row."""

    def at(t: float) -> float:
        i = min(int(t / row_s), len(cumulative) - 2)
        return cumulative[i] + (cumulative[i + 1] - cumulative[i]) * (t / row_s - i)

    return at(b) - at(a)

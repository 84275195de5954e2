"""Sampler cost: CPU time of llem's time-series process per second of run.

Starts llem's sampler (llem.energy.sampler.Sampler, its own spawned process) exactly as a job does,
lets it sample for --seconds at energy.sample_interval_s, and reads the process's user+system CPU
time from /proc before stopping it. Reports start-up CPU (imports, NVML init) separately from the
steady state. Without a GPU it samples llem's replayed H100 trace (the test-only LLEM_FAKE_NVML_TRACE
hook, tests/data/nvml_trace_h100.csv): the Python side is real, the NVML calls are a fake's, so a
real driver's ioctls add to this (~1-12 us per power/temperature/clock read on an H100).

    python benchmarks/sampler_cost.py [--seconds 20] [--interval 0.1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--warm", type=float, default=3.0, help="seconds after start before the steady-state reading")
    args = ap.parse_args()
    faked = False
    if not Path("/dev/nvidiactl").exists() and "LLEM_FAKE_NVML_TRACE" not in os.environ:
        os.environ["LLEM_FAKE_NVML_TRACE"] = str(REPO / "tests" / "data" / "nvml_trace_h100.csv")
        faked = True
    from llem.energy.sampler import Sampler

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        sampler = Sampler.start([0], args.interval, tmp)
        if sampler.error:
            sys.exit(f"sampler did not start: {sampler.error}")
        pid = sampler.proc.pid
        started_cpu = cpu_seconds(pid)
        started_wall = time.monotonic() - t0
        time.sleep(args.warm)
        cpu_a, wall_a = cpu_seconds(pid), time.monotonic()
        time.sleep(args.seconds)
        cpu_b, wall_b = cpu_seconds(pid), time.monotonic()
        summary = sampler.stop()
    steady = (cpu_b - cpu_a) / (wall_b - wall_a)
    print(f"sampler source: {'replayed H100 trace (LLEM_FAKE_NVML_TRACE; no GPU here)' if faked else 'NVML'}")
    print(f"interval {args.interval:g} s, samples written: {summary.get('samples')}")
    print(f"start-up: {started_wall:.2f} s wall, {started_cpu:.3f} s CPU (spawn, imports, NVML init)")
    print(
        f"steady state: {steady * 1000:.1f} ms CPU per second of run = {steady * 100:.2f}% of one core"
        f" ({(cpu_b - cpu_a) * 1000:.0f} ms over {wall_b - wall_a:.1f} s)"
    )
    print(f"per sample: {steady * args.interval * 1000:.2f} ms CPU")


if __name__ == "__main__":
    main()

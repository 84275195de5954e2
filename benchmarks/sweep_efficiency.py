"""Sweep efficiency: where the wall time of a 12-point CPU sweep goes.

Runs `python -m llem --multirun` (tiny model, CPU, batch size 1,2,4,8 x output tokens 16,32,64,
default repeats and warmup, tracking off) into a temporary output root, then splits the sweep's
wall time using each result.json: measured windows (sum of window duration_s), model loading
(load_s), warm-up (estimated as `run.warmup` x the job's mean window: the same full-length pass),
the rest of each job (worker spawn and imports, request building, result assembly and writing),
and what lies outside the jobs (interpreter start, validation of all 12 points, Hydra).

It also states what sweeping the workload axes inside one worker (one engine load per engine
configuration) would save for this sweep: every job's fixed cost but one.

    python benchmarks/sweep_efficiency.py [--batch-sizes 1,2,4,8] [--output-tokens 16,32,64] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_sweep(root: Path, batch_sizes: str, output_tokens: str, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "llem", "--multirun", "model=tiny", "hardware=cpu", "tracking=none", "-q",
           f"workload.batch_size={batch_sizes}", f"workload.output_tokens={output_tokens}",
           "workload.num_prompts=8", f"run.output_root={root}", *extra]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=root.parent, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"the sweep failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def breakdown(results: list[dict]) -> dict:
    jobs = []
    for r in results:
        windows = [w["duration_s"] for w in r["windows"]]
        job_wall = r["identity"]["finished_unix_s"] - r["identity"]["started_unix_s"]
        warmup = r["spec"]["run"]["warmup"] * statistics.mean(windows)
        jobs.append({"job_s": job_wall, "measured_s": sum(windows), "load_s": r["load_s"], "warmup_s": warmup,
                     "other_s": job_wall - sum(windows) - r["load_s"] - warmup})
    return {k: sum(j[k] for j in jobs) for k in jobs[0]} | {"n": len(jobs),
            "fixed_per_job_s": statistics.median(j["load_s"] + j["other_s"] for j in jobs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-sizes", default="1,2,4,8")
    ap.add_argument("--output-tokens", default="16,32,64")
    ap.add_argument("--keep", type=Path, default=None, help="output root to keep (default: a temp dir)")
    ap.add_argument("extra", nargs="*", help="more overrides for every job")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.keep or Path(tmp) / "out").resolve()
        root.parent.mkdir(parents=True, exist_ok=True)
        wall = run_sweep(root, args.batch_sizes, args.output_tokens, args.extra)
        results = [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/result.json"))]
    b = breakdown(results)
    outside = wall - b["job_s"]
    print(f"{b['n']}-point sweep, wall {wall:.1f} s")

    def row(label: str, secs: float) -> None:
        print(f"  {label:<58} {secs:7.1f} s  {100 * secs / wall:5.1f}%")

    row("inside measured windows", b["measured_s"])
    row("model loading (load_s)", b["load_s"])
    row("warm-up passes (estimated: warmup x mean window)", b["warmup_s"])
    row("rest of each job (worker spawn, imports, requests, writing)", b["other_s"])
    row("outside jobs (interpreter, validation, Hydra)", outside)
    fixed = b["fixed_per_job_s"]
    saved = (b["n"] - 1) * fixed
    print(f"fixed cost per job (load + rest, median): {fixed:.2f} s")
    print(f"one engine load for the whole workload sweep would save ~{saved:.0f} s of {wall:.0f} s "
          f"({100 * saved / wall:.0f}%); the measured share would rise from {100 * b['measured_s'] / wall:.0f}% "
          f"to ~{100 * b['measured_s'] / (wall - saved):.0f}%")


if __name__ == "__main__":
    main()

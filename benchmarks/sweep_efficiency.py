"""Sweep efficiency: where the wall time of a 12-point CPU sweep goes.

Runs `python -m llem --multirun` (tiny model, CPU, batch size 1,2,4,8 x output tokens 16,32,64,
default repeats and warmup, tracking off) into a temporary output root, then splits the sweep's
wall time using each result.json: measured windows (sum of window duration_s), model loading
(load_s), warm-up (estimated as `run.warmup` x the job's mean window: the same full-length pass),
the rest of each job (worker spawn and imports, request building, result assembly and writing),
and what lies outside the jobs (interpreter start, validation of all 12 points, Hydra).

The sweep runs twice: with run.reuse_engine=false (a fresh worker and engine load per point, as
before llem kept engines between jobs) and with the default (one worker and one engine load for
the whole workload sweep, since all 12 points are one engine configuration). It prints the
breakdown of each and the ratios.

    python benchmarks/sweep_efficiency.py [--model tiny] [--hardware cpu] [--batch-sizes 1,2,4,8]
        [--output-tokens 16,32,64] [--keep DIR] [-- more overrides]
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


def run_sweep(root: Path, args, extra: list[str]) -> float:
    cmd = [
        sys.executable,
        "-m",
        "llem",
        "--multirun",
        f"model={args.model}",
        f"hardware={args.hardware}",
        "tracking=none",
        "-q",
        f"workload.batch_size={args.batch_sizes}",
        f"workload.output_tokens={args.output_tokens}",
        "workload.num_prompts=8",
        f"run.output_root={root}",
        *extra,
    ]
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
        load = r["load_s"] or 0.0  # null: this job loaded nothing (the engine of an earlier job served it)
        jobs.append(
            {
                "job_s": job_wall,
                "measured_s": sum(windows),
                "load_s": load,
                "warmup_s": warmup,
                "other_s": job_wall - sum(windows) - load - warmup,
                "loads": 0 if r["load_s"] is None else 1,
            }
        )
    return {k: sum(j[k] for j in jobs) for k in jobs[0]} | {"n": len(jobs)}


def arm(label: str, root: Path, args, extra: list[str]) -> dict:
    wall = run_sweep(root, args, [*args.extra, *extra])
    results = [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/result.json"))]
    b = breakdown(results)
    b["wall_s"] = wall
    print(f"{label}: {b['n']}-point sweep, {b['loads']} engine load(s), wall {wall:.1f} s")

    def row(name: str, secs: float) -> None:
        print(f"  {name:<58} {secs:7.1f} s  {100 * secs / wall:5.1f}%")

    row("inside measured windows", b["measured_s"])
    row("model loading (load_s)", b["load_s"])
    row("warm-up passes (estimated: warmup x mean window)", b["warmup_s"])
    row("rest of each job (worker spawn, imports, requests, writing)", b["other_s"])
    row("outside jobs (interpreter, validation, Hydra)", wall - b["job_s"])
    return b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--hardware", default="cpu")
    ap.add_argument("--batch-sizes", default="1,2,4,8")
    ap.add_argument("--output-tokens", default="16,32,64")
    ap.add_argument("--keep", type=Path, default=None, help="folder to keep both arms' output roots in (default: a temp dir)")
    ap.add_argument("extra", nargs="*", help="more overrides for every job")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = (args.keep or Path(tmp)).resolve()
        base.mkdir(parents=True, exist_ok=True)
        fresh = arm("reuse off (run.reuse_engine=false)", base / "fresh", args, ["run.reuse_engine=false"])
        warm = arm("reuse on (default)", base / "reuse", args, [])
    print(
        f"wall time, reuse on / off: {warm['wall_s'] / fresh['wall_s']:.2f} "
        f"({fresh['wall_s'] - warm['wall_s']:.0f} s saved of {fresh['wall_s']:.0f} s)"
    )
    print(
        f"share of wall time inside measured windows: {100 * fresh['measured_s'] / fresh['wall_s']:.0f}% -> "
        f"{100 * warm['measured_s'] / warm['wall_s']:.0f}%"
    )
    print(f"engine loads: {fresh['loads']} -> {warm['loads']}; loading time {fresh['load_s']:.1f} s -> {warm['load_s']:.1f} s")


if __name__ == "__main__":
    main()

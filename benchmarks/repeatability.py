"""How many windows each configuration needs to reach a tight interval (issue: repeatability).

Runs llem once per configuration with run.target_ci_pct (default 1) and run.max_repeats (default
20), then prints per configuration: windows taken, whether the target was met (and why not), the
achieved 95% CI half-width and CV of J/output token (or of throughput where energy is not
measured), the window length, wall time, and, where the sampler recorded them, the per-window
conditions that explain what variance remains (clocks, power, temperature, throttling).

    python benchmarks/repeatability.py --preset cpu                 # model=tiny and smollm2-135m
    python benchmarks/repeatability.py --preset gpu --out rep.json  # PyTorch static/dynamic on CUDA
    python benchmarks/repeatability.py --config "backend=vllm hardware=cuda ..."   # any command line
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

RANDOM_1B = "model=llama3.2-1b model.weights=random hardware=cuda workload=synthetic workload.input_tokens=128"
PRESETS = {
    "cpu": [
        "model=tiny hardware=cpu workload.num_prompts=4 workload.output_tokens=16",
        "model=smollm2-135m hardware=cpu workload.num_prompts=4 workload.output_tokens=16",
    ],
    "gpu": [
        f"{RANDOM_1B} workload.batch_size=8 workload.num_prompts=8 workload.output_tokens=256 backend.cache_implementation=static",
        f"{RANDOM_1B} workload.batch_size=8 workload.num_prompts=8 workload.output_tokens=256 backend.cache_implementation=dynamic",
    ],
}


def run_one(config: str, target: float, cap: int, root: Path, extra: list[str]) -> dict:
    args = shlex.split(config) + [
        f"run.target_ci_pct={target:g}",
        f"run.max_repeats={cap}",
        "tracking=none",
        "run.objective=energy_j_per_output_token|output_tokens_per_s",
        f"run.output_root={root}",
        *extra,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "llem", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    found = sorted(root.glob("runs/*/result.json"), key=lambda p: p.stat().st_mtime)
    if proc.returncode != 0 or not found or found[-1].stat().st_mtime < time.time() - wall:
        return {"config": config, "ok": False, "wall_s": wall, "log_tail": proc.stdout[-2000:]}
    result = json.loads(found[-1].read_text())
    rep = result.get("repeatability") or {}
    metric = rep.get("metric")
    stats = (result.get("statistics") or {}).get(metric) or {}
    windows = result.get("windows") or []
    return {
        "config": config,
        "ok": True,
        "wall_s": wall,
        "run_id": result["identity"]["run_id"],
        "metric": metric,
        "windows": rep.get("windows"),
        "met": rep.get("met"),
        "reason": rep.get("reason"),
        "ci95_half_pct": rep.get("ci95_half_pct"),
        "cv": stats.get("cv"),
        "mean": stats.get("mean"),
        "window_s": [w.get("duration_s") for w in windows],
        "passes": rep.get("passes_per_window"),
        "drift": rep.get("drift"),
        "flags": (result.get("validity") or {}).get("flags"),
        "throughput_cv": ((result.get("statistics") or {}).get("output_tokens_per_s") or {}).get("cv"),
        "conditions": [w.get("conditions") for w in windows],
    }


def _fmt(x, spec):
    return "—" if x is None else format(x, spec)


def print_table(rows: list[dict]) -> None:
    print(f"{'configuration':70} {'windows':>7} {'met':>5} {'CI ±%':>7} {'CV':>7} {'tput CV':>7} {'win s':>6} {'wall s':>7}")
    for r in rows:
        name = r["config"][:70]
        if not r["ok"]:
            print(f"{name:70} FAILED (see log_tail)")
            continue
        mean_win = sum(r["window_s"]) / len(r["window_s"]) if r["window_s"] else None
        print(
            f"{name:70} {r['windows']:>7} {str(r['met']):>5} {_fmt(r['ci95_half_pct'], '.2f'):>7} "
            f"{_fmt(r['cv'], '.2%'):>7} {_fmt(r['throughput_cv'], '.2%'):>7} {_fmt(mean_win, '.1f'):>6} {r['wall_s']:>7.0f}"
        )
        if r["met"] is False or r["met"] is None:
            print(f"{'':70} why: {r['reason']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    ap.add_argument("--config", action="append", default=[], help="a llem command line (repeatable; replaces the preset)")
    ap.add_argument("--target", type=float, default=1.0, help="run.target_ci_pct")
    ap.add_argument("--cap", type=int, default=20, help="run.max_repeats")
    ap.add_argument("--root", default="repeatability-runs")
    ap.add_argument("--out", default=None, help="write every row as JSON here")
    ap.add_argument("--override", action="append", default=[], help="extra override for every run (repeatable)")
    args = ap.parse_args(argv)
    configs = args.config or PRESETS[args.preset]
    rows = []
    for config in configs:
        print(f"== {config}", flush=True)
        rows.append(run_one(config, args.target, args.cap, Path(args.root), args.override))
    print_table(rows)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""What resuming a finished sweep costs: the same `llem --multirun` command again, with every
result already on disk, so nothing is left to measure.

The tiny model on CPU with the smallest workload (the grid of benchmarks/lab_sweep.py:
4 engine configurations x input lengths x output_tokens=1,2), tracking off, through a launcher
that needs no service (`inprocess`, llem's default, or `local`, submitit's local executor). The
first run measures every point; the second is timed, and must report 0 measured and every job
skipped. It also counts what the resume left in its sweep directory: job folders (Hydra's
per-job `.hydra/`) and submitit folders (a worker process started for a job).

    python benchmarks/sweep_resume.py [--input-lengths 25] [--launcher inprocess|local] [--root DIR [--no-first]] [--resumes N]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "model=tiny",
    "hardware=cpu",
    "energy=none",
    "tracking=none",
    "workload.num_prompts=1",
    "workload.batch_size=1",
    "run.repeats=1",
    "run.warmup=0",
    "run.quiet=true",
]
ENGINES = ["backend.cache_implementation=dynamic,static", "backend.dtype=float32,bfloat16"]


def command(lengths: int, launcher: str, out: Path) -> list[str]:
    return [
        "--multirun",
        f"hydra/launcher={launcher}",
        *TINY,
        *ENGINES,
        f"workload.input_tokens=range(8,{8 + 2 * lengths},2)",
        "workload.output_tokens=1,2",
        f"run.output_root={out}",
    ]


def run(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall time, CPU time (user + sys of llem and what it started: steadier than wall time on a
    shared machine) and output of one llem command."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "launchers"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "llem", *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"llem exited with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return wall, cpu, proc.stdout + proc.stderr


def summary(output: str) -> str:
    return next((line for line in output.splitlines() if "llem sweep summary:" in line), "(no summary line)")


def newest_sweep_dir(out: Path) -> Path:
    return max((out / "hydra" / "sweeps").iterdir(), key=lambda p: p.stat().st_mtime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input-lengths", type=int, default=25, help="input lengths per engine configuration (x 8 = jobs)")
    ap.add_argument("--launcher", default="inprocess", choices=["inprocess", "local"])
    ap.add_argument("--root", type=Path, help="output root to reuse (a finished sweep there is resumed, not re-measured)")
    ap.add_argument("--resumes", type=int, default=1, help="how many times to time the resume")
    ap.add_argument("--no-first", action="store_true", help="--root already holds the finished sweep: only resume it")
    args = ap.parse_args()
    n = 8 * args.input_lengths
    out = args.root or Path(tempfile.mkdtemp(prefix="llem-resume-"))
    out.mkdir(parents=True, exist_ok=True)
    cmd = command(args.input_lengths, args.launcher, out)
    print(f"{n} jobs, launcher {args.launcher}: python -m llem {' '.join(cmd)}")
    if not args.no_first:
        wall, cpu, output = run(cmd, out)
        print(f"first run: {wall:.1f} s (cpu {cpu:.1f} s); {summary(output)}")
    failed = 0
    for _ in range(args.resumes):
        wall, cpu, output = run(cmd, out)
        sweep = newest_sweep_dir(out)
        job_dirs = [p for p in sweep.iterdir() if (p / ".hydra").is_dir()]
        submitit = list(sweep.glob(".submitit/*"))  # one folder per submitit job (a worker process started)
        line = summary(output)
        ok = bool(re.search(rf"\b0 measured, {n} skipped", line))
        failed += not ok
        print(
            f"resume: {wall:.1f} s (cpu {cpu:.1f} s); {line}; job folders written {len(job_dirs)}, submitit jobs {len(submitit)}; "
            f"load average {os.getloadavg()[0]:.1f}"
            f"{'' if ok else '  [FAILED: expected 0 measured, all skipped]'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up cost: `python -m llem --help` and full validation of a job / a 12-point sweep.

Prints the median and spread over repeats, and which heavy modules the validation path imported
(it should import none). Usage: python benchmarks/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    py = sys.executable
    probe = (
        "import sys,time; t=time.perf_counter(); from llem.cli import prevalidate; "
        "n=prevalidate(sys.argv[1:]); dt=time.perf_counter()-t; "
        "heavy=[m for m in ('torch','transformers','mlflow','vllm','llama_cpp') if m in sys.modules]; "
        "print(n, dt, ','.join(heavy) or '-')"
    )
    cases = {
        "python -m llem --help": [py, "-m", "llem", "--help"],
        "python -c 'import llem.cli'": [py, "-c", "import llem.cli"],
        "python (bare interpreter)": [py, "-c", "pass"],
    }
    print(f"{'command':<40} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, cmd in cases.items():
        xs = timed(cmd, args.repeats)
        print(f"{name:<40} {statistics.median(xs):9.3f} {min(xs):7.3f} {max(xs):7.3f}")
    for label, overrides in {
        "validate 1 job": ["model=tiny", "hardware=cpu"],
        "validate 12-point sweep": [
            "--multirun",
            "model=tiny,smollm2-135m",
            "workload.batch_size=1,2,4,8,16,32",
            "workload.num_prompts=32",
        ],
    }.items():
        res = [subprocess.run([py, "-c", probe, *overrides], capture_output=True, text=True).stdout.split() for _ in range(3)]
        jobs, secs, heavy = res[0][0], statistics.median(float(r[1]) for r in res), res[0][2]
        print(f"{label:<40} {secs:9.3f}   ({jobs} jobs checked in-process; heavy modules imported: {heavy})")


if __name__ == "__main__":
    main()

"""Run any command while an independent process polls the GPU's energy counter, then check every
window llem measured in the meantime against that independent read.

The poller and the comparison are the ones of benchmarks/gpu_alignment_proof.py (its own process,
its own NVML handle, reads timestamped on CLOCK_MONOTONIC, the clock llem's window edges use);
here they wrap whole llem runs (engine processes, servers, sweeps) instead of in-process windows,
so vLLM and llama.cpp windows get the same independent check as the proof's PyTorch ones.

    python benchmarks/gpu/poll_during.py --root RUNS --out poll.json -- python -m llem ... run.output_root=RUNS

Printed per result.json found under --root (written while the command ran): windows, mean and max
|error| of llem's joules against the poller and the signed mean, for both references: `edge` (the
poller's own updates nearest outside each window, less its own idle power over the gap: right for
windows that open and close on idle, offline passes) and `linear` (the poller's counter interpolated at
llem's edges: right where the load runs through the edges, server steady states); and the result's flags.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_alignment_proof import Poller, compare, summarize  # noqa: E402


def check_results(root: Path, since: float, ticks, cooldown_s: float) -> list[dict]:
    out = []
    for path in sorted(root.glob("**/result.json")):
        if path.stat().st_mtime < since:
            continue
        r = json.loads(path.read_text())
        rows = [compare(w, ticks, cooldown_s) for w in r.get("windows") or []]
        out.append(
            {
                "result": str(path.relative_to(root)),
                "backend": r["spec"]["backend"]["name"],
                "windows": rows,
                "edge": summarize(rows, "edge"),
                "linear": summarize(rows, "linear"),
                "flags": (r.get("validity") or {}).get("flags") or [],
            }
        )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="folder the command writes its llem results under")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cooldown-s", type=float, default=0.5, help="idle stretch before a window for the poller's idle power")
    ap.add_argument("--fake-nvml-trace", default=None, help="TEST ONLY: the poller and llem replay this NVML trace")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    since = time.time()
    if args.fake_nvml_trace:  # the poller, llem and its sampler replay one moment of one trace
        os.environ["LLEM_FAKE_NVML_TRACE"] = args.fake_nvml_trace
        os.environ["LLEM_FAKE_NVML_EPOCH"] = repr(time.monotonic())
    poller = Poller(Path(args.out).with_suffix(".ticks"), args.fake_nvml_trace)
    try:
        rc = subprocess.call(cmd)
    finally:
        ticks = poller.finish()
    checked = check_results(root, since, ticks, args.cooldown_s)
    gaps = ticks.gaps()
    print(
        f"independent poller: {ticks.reads} reads in {ticks.seconds:.1f} s, {len(ticks.t)} updates, "
        f"median gap {1e3 * statistics.median(gaps):.1f} ms"
        if gaps
        else "independent poller: no updates"
    )
    for c in checked:
        durs = [w["duration_s"] for w in c["windows"]]
        print(
            f"{c['backend']:<9} {len(durs):>3} windows, {statistics.mean(durs) if durs else float('nan'):.2f} s: "
            f"{_line(c, 'edge')}; {_line(c, 'linear')}  [{c['result']}]"
        )
        for f in c["flags"]:
            print(f"    flag: {f}")
    Path(args.out).write_text(
        json.dumps(
            {
                "command": cmd,
                "rc": rc,
                "poller": {"reads": ticks.reads, "seconds": ticks.seconds, "updates": len(ticks.t)},
                "results": checked,
            },
            indent=1,
            default=str,
        )
    )
    return rc


def _line(checked: dict, ref: str) -> str:
    """Both references, named: `edge` (the poller's updates nearest outside the window, less its idle power
    over the gaps) holds where a window opens and closes on idle (offline passes); `linear` (the counter
    interpolated at the edges) where the load runs through them (server steady states)."""
    e = checked[ref]
    if not e.get("n"):
        return f"{ref} n/a"
    return f"{ref} |err| mean {100 * e['mean_abs']:.3f}%, max {100 * e['max_abs']:.3f}%, signed {100 * e['mean']:+.3f}%"


if __name__ == "__main__":
    sys.exit(main())

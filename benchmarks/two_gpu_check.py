"""Issue 19's independent reference: poll every GPU's NVML energy counter in a process of its own,
then compare each llem window's per-GPU joules with that trace at the window's edges.

    python benchmarks/two_gpu_check.py poll --out poll.csv &       # until SIGTERM/SIGINT
    python benchmarks/two_gpu_check.py check --poll poll.csv --out check.json RUN_ROOT...

`poll` reads every NVML device (by UUID, not through CUDA_VISIBLE_DEVICES: the jobs' own mapping is
what is under test) back to back, timestamps each read on CLOCK_MONOTONIC (system-wide, the axis of
llem's interval_monotonic_s) and writes a line per counter update: t_mono,uuid,mJ. `check` takes,
for each window and each metered GPU (its UUID from the meter's description), the poller's counter
at the window's two edges (the last update at or before each) and reports llem's joules, the
poller's, their difference and the bound: one counter step per edge, i.e. twice that GPU's mean
power over the window times the largest update gap the poller saw. With LLEM_FAKE_NVML_TRACE set,
`poll` reads the replayed trace instead (to try the script without a GPU).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import signal
import sys
import time
from pathlib import Path


def _nvml():
    if os.environ.get("LLEM_FAKE_NVML_TRACE"):
        from llem.testing.fake_nvml import fake_from_env

        return fake_from_env(os.environ)
    import pynvml

    return pynvml


def poll(out: Path) -> None:
    nvml = _nvml()
    nvml.nvmlInit()
    handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    uuids = [u.decode() if isinstance(u, bytes) else u for u in (nvml.nvmlDeviceGetUUID(h) for h in handles)]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    last = [None] * len(handles)
    with open(out, "w") as f:
        f.write("t_mono,uuid,energy_mj\n")
        while not stop:
            for i, h in enumerate(handles):
                a = time.monotonic()
                v = int(nvml.nvmlDeviceGetTotalEnergyConsumption(h))
                t = (a + time.monotonic()) / 2
                if v != last[i]:
                    f.write(f"{t!r},{uuids[i]},{v}\n")
                    last[i] = v
            f.flush()
    nvml.nvmlShutdown()


def _trace(path: Path) -> dict[str, tuple[list[float], list[int]]]:
    out: dict[str, tuple[list[float], list[int]]] = {}
    for line in path.read_text().splitlines()[1:]:
        t, uuid, mj = line.split(",")
        ts, vs = out.setdefault(uuid, ([], []))
        ts.append(float(t))
        vs.append(int(mj))
    return out


def _at(series, t: float):
    ts, vs = series
    i = bisect.bisect_right(ts, t) - 1
    return vs[i] if 0 <= i else None


def _max_gap(series) -> float:
    ts = series[0]
    return max((b - a for a, b in zip(ts, ts[1:])), default=float("nan"))


def _nvml_devices(meter: dict) -> dict:
    parts = meter.get("parts") or [meter]
    return next((p.get("devices") or {} for p in parts if p.get("meter") == "nvml"), {})


def check(poll_csv: Path, roots: list[Path]) -> dict:
    trace = _trace(poll_csv)
    rows = []
    for result_path in sorted(p for r in roots for p in Path(r).glob("**/runs/*/result.json")):
        r = json.loads(result_path.read_text())
        if r.get("status") != "ok":
            continue
        devices = _nvml_devices((r.get("energy") or {}).get("meter") or {})
        for w in r.get("windows") or []:
            e = w.get("energy") or {}
            t0, t1 = e.get("interval_monotonic_s") or (None, None)
            for key, d in devices.items():
                series = trace.get(d.get("uuid"))
                llem_j = (e.get("energy_j") or {}).get(key)
                if series is None or t0 is None or llem_j is None:
                    rows.append(
                        {
                            "run": result_path.parent.name,
                            "window": w.get("index"),
                            "gpu": key,
                            "uuid": d.get("uuid"),
                            "llem_j": llem_j,
                            "poller_j": None,
                            "note": "no poller trace for this GPU, or no interval, or llem measured none",
                        }
                    )
                    continue
                a, b = _at(series, t0), _at(series, t1)
                poller_j = (b - a) / 1000 if a is not None and b is not None else None
                bound = 2 * (llem_j / (t1 - t0)) * _max_gap(series) if t1 > t0 else None
                rows.append(
                    {
                        "run": result_path.parent.name,
                        "window": w.get("index"),
                        "gpu": key,
                        "uuid": d.get("uuid"),
                        "cuda_check": d.get("cuda_check"),
                        "llem_j": llem_j,
                        "poller_j": poller_j,
                        "diff_j": None if poller_j is None else llem_j - poller_j,
                        "bound_j": bound,
                        "within": None if poller_j is None or bound is None else abs(llem_j - poller_j) <= bound,
                        "interval_monotonic_s": [t0, t1],
                    }
                )
    return {"poll": str(poll_csv), "windows": rows, "all_within": all(x.get("within") for x in rows) if rows else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("poll")
    p.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("check")
    c.add_argument("--poll", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("roots", type=Path, nargs="+")
    args = ap.parse_args(argv)
    if args.cmd == "poll":
        poll(args.out)
        return 0
    report = check(args.poll, args.roots)
    args.out.write_text(json.dumps(report, indent=1))
    for x in report["windows"]:
        print(
            f"{x['run'][:48]:48s} w{x['window']} {x['gpu']} {str(x['uuid'])[:12]} llem {x['llem_j']} "
            f"poller {x.get('poller_j')} diff {x.get('diff_j')} bound {x.get('bound_j')} within {x.get('within')}"
        )
    print(f"all within one counter step per edge: {report['all_within']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which measured windows of a sweep's jobs ran at the same time, and on which GPUs.

Parallel jobs (`hydra/launcher=local` with `parallel=true`, each job on its own `hardware.gpus`)
measure their windows at the same time. Each job's GPU energy is its own GPUs' counters, so that is
sound when the GPUs are disjoint; what the jobs share (the host's CPUs, memory bandwidth, PCIe, the
NVLink fabric, power and cooling) is not in any job's GPU joules but may change them. The sweep
summary records every overlap, so a reader knows which numbers were measured side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from llem import paths
from llem.results.io import read_json
from llem.results.per_device import meter_devices


def _span(w: dict) -> Optional[tuple[float, float]]:
    interval = (w.get("energy") or {}).get("interval_unix_s")
    if interval and len(interval) == 2:
        return float(interval[0]), float(interval[1])
    if w.get("started_unix_s") is not None and w.get("duration_s") is not None:
        return float(w["started_unix_s"]), float(w["started_unix_s"]) + float(w["duration_s"])
    return None


def metered_gpus(result: dict) -> list[str]:
    """UUIDs of the GPUs a result's meter read (through a composite meter's parts)."""
    devices = meter_devices((result.get("energy") or {}).get("meter") or {})
    return sorted({d["uuid"] for d in devices.values() if d.get("uuid")})


def measured_results(summary: dict) -> list[dict]:
    """The result records of the jobs this sweep measured (not those it skipped), read from disk."""
    out = []
    for job in summary.get("jobs") or []:
        if job.get("status") == "measured" and job.get("run_dir"):
            try:
                out.append(read_json(Path(job["run_dir"]) / paths.RESULT))
            except (OSError, ValueError):
                pass
    return out


def window_overlaps(results: Iterable[dict]) -> list[dict]:
    """Every pair of windows of two different jobs that overlap in time, with the GPUs each metered."""
    jobs = [
        (r["identity"]["run_id"], metered_gpus(r), [(w.get("index", i), _span(w)) for i, w in enumerate(r.get("windows") or [])])
        for r in results
        if r.get("status") == "ok"
    ]
    out = []
    for n, (run_a, gpus_a, wins_a) in enumerate(jobs):
        for run_b, gpus_b, wins_b in jobs[n + 1 :]:
            for i, a in wins_a:
                for j, b in wins_b:
                    if a and b and a[0] < b[1] and b[0] < a[1]:
                        out.append(
                            {
                                "runs": [run_a, run_b],
                                "windows": [i, j],
                                "overlap_s": min(a[1], b[1]) - max(a[0], b[0]),
                                "gpus": {run_a: gpus_a, run_b: gpus_b},
                                "shared_gpus": sorted(set(gpus_a) & set(gpus_b)),
                            }
                        )
    return out


def overlap_lines(overlaps: list[dict]) -> list[str]:
    """What the sweep's end prints about them (nothing when no windows overlapped)."""
    if not overlaps:
        return []
    pairs = sorted({tuple(o["runs"]) for o in overlaps})
    shared = sorted({g for o in overlaps for g in o["shared_gpus"]})
    line = (
        f"{len(overlaps)} measured window(s) of {len(pairs)} job pair(s) ran at the same time "
        f"(recorded as concurrent_windows in the sweep summary)"
    )
    if shared:
        return [line + f"; they metered the same GPU(s) {', '.join(shared)}: their energy numbers mix"]
    return [line + ", each job on its own GPUs"]

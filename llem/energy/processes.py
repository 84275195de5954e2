"""Who else computes on a metered GPU: NVML's compute processes against this job's process tree.

The energy counter covers the whole physical GPU; another process computing on it adds its joules
to the job's. NVML lists compute processes per GPU (nvmlDeviceGetComputeRunningProcesses); the
job's own are this process and its descendants (an engine's server, its workers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


PROC = Path("/proc")


def _parents(proc: Path = PROC) -> dict[int, int]:
    """pid -> parent pid for every process /proc shows (Linux); {} elsewhere."""
    out = {}
    for p in proc.glob("[0-9]*"):
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces: the ppid follows the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            out[int(p.name)] = int(fields[1])
    return out


def own_process_tree(root: Optional[int] = None, proc: Path = PROC) -> set[int]:
    """root (default: this process) and its live descendants."""
    root = os.getpid() if root is None else root
    parents = _parents(proc)
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def compute_processes(nvml, handle) -> Optional[list[dict]]:
    """[{pid, used_gpu_memory_mib}], or None where NVML cannot list them."""
    fn = getattr(nvml, "nvmlDeviceGetComputeRunningProcesses", None)
    if fn is None:
        return None
    try:
        procs = fn(handle)
    except Exception:
        return None
    out = []
    for p in procs:
        mem = getattr(p, "usedGpuMemory", None)
        out.append({"pid": int(p.pid), "used_gpu_memory_mib": None if mem is None else mem / 2**20})
    return out


def foreign_process_flags(nvml, devices, own: set[int]) -> list[str]:
    """One flag per metered GPU on which a process outside this job computes, with the evidence."""
    flags = []
    for d in devices:
        procs = compute_processes(nvml, d.handle)
        if not procs:
            continue
        foreign = [p for p in procs if p["pid"] not in own]
        if not foreign:
            continue
        shown = ", ".join(
            f"pid {p['pid']}" + (f" ({p['used_gpu_memory_mib']:.0f} MiB)" if p["used_gpu_memory_mib"] is not None else "")
            for p in foreign[:5]
        )
        caveat = (
            ""
            if len(foreign) < len(procs)
            else "; none of the listed pids is this job's, so they may be host pids seen from a container"
        )
        flags.append(
            f"foreign_process: {d.key} ({d.uuid}) has compute processes outside this job: {shown}; "
            f"the GPU's energy counter includes their joules{caveat}"
        )
    return flags

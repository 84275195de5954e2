"""What else the host's CPUs did during a window: other processes and a hypervisor's steal.

A host-bound engine (PyTorch's Python decode loop, vLLM's scheduler, llama.cpp's threads) can run
slower when other work shares its CPUs, and nothing on the GPU shows it, and what shares the host
matters as well as how much (docs/measurements.md, the H200 run of 2026-12-01: repeatability). Each
window therefore records, from /proc (Linux), what llem can tell, and leaves the judgement to
the flag's reader:

- `cores`: the CPUs this process may run on; `host_cpus`: the host's;
- `busy_cores`: mean busy CPUs of the whole host over the window (user, nice, system, irq,
  softirq from /proc/stat);
- `own_cores`: mean CPUs used by this job's process tree (this process and its descendants:
  engine workers, a server, the sampler), from /proc/<pid>/stat;
- `other_cores`: busy_cores - own_cores, what the rest of the host used, and `other_niced_cores`,
  the part of it at a positive nice value (the host's nice time);
- `steal_cores`: CPUs' time taken by the hypervisor (a VM's vCPUs waiting for real ones).

`host_busy` flags a window whose other_cores or steal_cores exceed energy.host_busy_max_cores
(default: 1 core, or 10% of the host's CPUs, whichever is more). None where /proc cannot be read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

from llem.energy.processes import PROC, own_process_tree

BUSY_FIELDS = (0, 1, 2, 5, 6)  # user nice system irq softirq (after the "cpu" label)
NICE_FIELD = 1
STEAL_FIELD = 7


def _ticks() -> float:
    return float(os.sysconf("SC_CLK_TCK"))


def _host_jiffies(proc: Path) -> Optional[tuple[int, int, int]]:
    try:
        line = (proc / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not line or line[0] != "cpu":
        return None
    values = [int(v) for v in line[1:]]
    steal = values[STEAL_FIELD] if len(values) > STEAL_FIELD else 0
    return sum(values[i] for i in BUSY_FIELDS if i < len(values)), steal, values[NICE_FIELD]


def _stat_fields(proc: Path, pid: int) -> Optional[list[str]]:
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid ...


def _tree_jiffies(proc: Path, root: int) -> int:
    """utime + stime of root and its live descendants, plus root's waited-for children's."""
    total = 0
    for pid in own_process_tree(root, proc):
        f = _stat_fields(proc, pid)
        if f is None or len(f) < 15:
            continue
        total += int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if pid == root else 0)  # + cutime, cstime
    return total


class HostLoad:
    """Two snapshots (begin, end) of the host's and this job's CPU time."""

    def __init__(self, proc: Path = PROC, pid: Optional[int] = None, clock=time.monotonic):
        self.proc, self.pid, self.clock = proc, pid or os.getpid(), clock
        self._start = None

    def snapshot(self):
        host = _host_jiffies(self.proc)
        if host is None:
            return None
        return self.clock(), host[0], host[1], _tree_jiffies(self.proc, self.pid), host[2]

    def begin(self) -> None:
        self._start = self.snapshot()

    def end(self) -> Optional[dict]:
        start, stop = self._start, self.snapshot()
        self._start = None
        if start is None or stop is None or stop[0] <= start[0]:
            return None
        seconds, hz = stop[0] - start[0], _ticks()
        busy = (stop[1] - start[1]) / hz / seconds
        steal = (stop[2] - start[2]) / hz / seconds
        own = (stop[3] - start[3]) / hz / seconds
        other = max(busy - own, 0.0)
        niced = min((stop[4] - start[4]) / hz / seconds, other)  # this job's processes run at nice 0
        return {
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "host_cpus": os.cpu_count(),
            "busy_cores": round(busy, 3),
            "own_cores": round(own, 3),
            "other_cores": round(other, 3),
            "other_niced_cores": round(niced, 3),
            "steal_cores": round(steal, 3),
            "seconds": round(seconds, 3),
        }


def busy_limit(host: dict, max_cores: Optional[float]) -> float:
    if max_cores is not None:
        return max_cores
    return max(1.0, 0.1 * (host.get("host_cpus") or host.get("cores") or 1))


def host_flags(windows: list[dict], max_cores: Optional[float]) -> list[str]:
    flags = []
    for w in windows:
        h = w.get("host")
        if not h:
            continue
        limit = busy_limit(h, max_cores)
        i = w.get("index")
        if h["other_cores"] > limit:
            niced = h.get("other_niced_cores")
            part = f", {niced:.1f} of them at a lower priority (nice)" if niced else ""
            flags.append(
                f"host_busy: window {i}: other processes used {h['other_cores']:.1f} of {h['host_cpus']} CPUs"
                f"{part} (this job {h['own_cores']:.1f}) for {h['seconds']:.1f} s (> {limit:g}, "
                f"energy.host_busy_max_cores): a host-bound engine may run slower beside them; "
                f"compare its throughput with a run on a quiet host"
            )
        if h["steal_cores"] > limit:
            flags.append(
                f"host_busy: window {i}: the hypervisor took {h['steal_cores']:.1f} CPUs (steal) for "
                f"{h['seconds']:.1f} s (> {limit:g}): this VM's vCPUs waited for real ones"
            )
    return flags

"""What a measurement worker keeps loaded between the jobs of a sweep (worker side).

A sweep over workload axes (batch size, lengths, concurrency, request rate) measures the same
engine configuration again and again; loading it once per point is most of a sweep's wall time.
The parent (llem/run/worker.py) hands a live worker the next job only when backend, model, hardware
and mode are equal; here the worker makes the exact check: the engine's load key (what load()
takes from the workload, e.g. vLLM's max_num_seqs derived from the batch size) or, in server
mode, the server's command line. A job whose key differs is handed back and gets a fresh worker:
engine configurations never share a process.

Per job, everything measured stays per job: meter, warmup, idle baseline, windows, sampler and
peak-memory accounting start afresh; only the loaded weights (or the running server) carry over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass
class Held:
    key: Any  # exact load key the engine was loaded for
    engine: Any  # a loaded Backend (offline) or a ready ServerProcess (server mode)
    load_s: float  # how long loading (or starting the server) took
    loaded_for: str  # run id of the job that loaded it
    jobs: int = 0  # jobs measured on it so far


class EngineMismatch(Exception):
    """The next job needs another engine configuration than the one loaded here."""


class WarmEngines:
    """At most one loaded engine or running server, kept between jobs of one worker."""

    def __init__(self) -> None:
        self.held: Optional[Held] = None

    def take(self, key: Any) -> Optional[Held]:
        """The held engine if it was loaded for `key`; None when nothing is held; EngineMismatch otherwise."""
        if self.held is None:
            return None
        if self.held.key != key:
            raise EngineMismatch(_difference(self.held.key, key))
        return self.held

    def acquire(self, key: Any, run_id: str, load: Callable[[], Any]) -> tuple[Any, dict]:
        """The engine for this job and a record of how it was obtained (the result's `engine_load`)."""
        held = self.take(key)
        if held is None:
            t0 = time.perf_counter()
            engine = load()
            self.held = held = Held(key, engine, time.perf_counter() - t0, run_id)
            reused = False
        else:
            reused = True
        held.jobs += 1
        return held.engine, {"reused": reused, "load_s": held.load_s, "loaded_for": held.loaded_for, "job_on_engine": held.jobs}

    def close(self) -> None:
        held, self.held = self.held, None
        if held is None:
            return
        stop = getattr(held.engine, "close", None) or getattr(held.engine, "stop", None)
        try:
            stop()
        except Exception:  # the worker is exiting; releasing is best effort
            pass


def _difference(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:4]) or "equal"
    return "the engine's load settings differ"


def reset_peak_rss(pid: Optional[int] = None) -> bool:
    """Restart the kernel's peak-RSS counter (VmHWM) of this process (or of `pid`, e.g. a server);
    False where that is not possible."""
    try:
        with open(f"/proc/{pid or 'self'}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """This process's peak resident memory since start or the last reset_peak_rss()."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

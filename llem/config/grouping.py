"""Which jobs of a sweep can share one measurement worker, and the order that keeps them together.

Cheap and engine-free: launchers call it on plain job configs before anything runs. Jobs of one
group differ only in workload axes (batch size, lengths, prompts, concurrency, request rate,
sampling) and in run/energy/tracking settings; the worker then checks the engine's exact load key
(llem/harness/warm.py) before reusing what it loaded.
"""

from __future__ import annotations

import hashlib
import json

# Applied per job around a loaded engine (llem/energy/gpu_settings.py): a power-limit sweep keeps its engine.
PER_JOB_HARDWARE = ("power_limit_w", "sm_clocks_mhz", "mem_clock_mhz")


def engine_hardware(hardware: dict | None) -> dict:
    """The hardware settings that shape a loaded engine (the per-job GPU settings left out)."""
    return {k: v for k, v in (hardware or {}).items() if k not in PER_JOB_HARDWARE}


def engine_group(job: dict) -> str:
    """A short hash of what a loaded engine (or a started server) is: backend settings, model, hardware, mode."""
    w = job.get("workload") or {}
    mode = w.get("mode", "offline")
    key = {
        "backend": job.get("backend"),
        "model": job.get("model"),
        "hardware": engine_hardware(job.get("hardware")),
        "mode": mode,
        "server_url": w.get("server_url") if mode == "server" else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def engine_order(jobs: list[dict]) -> list[int]:
    """Job indices with each engine group's jobs together, groups in order of first appearance and
    jobs in their sweep order within a group; the sweep's own order when reuse is off for every job."""
    if not any((job.get("run") or {}).get("reuse_engine", True) for job in jobs):
        return list(range(len(jobs)))
    return [i for members in engine_groups(jobs) for i in members]


def engine_groups(jobs: list[dict]) -> list[list[int]]:
    """The groups themselves (job indices), in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(engine_group(job), []).append(i)
    return list(groups.values())

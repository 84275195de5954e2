"""Which device a job gets, cheaply: CUDA device nodes counted, no CUDA import (engines' settings resolve
`hardware.device=auto` with it; the job checks the device where it runs: llem.config.checks.device_for_job)."""

from __future__ import annotations

import glob
import os


def visible_gpu_count() -> int:
    """Cheap GPU detection (no CUDA import): device nodes, narrowed by CUDA_VISIBLE_DEVICES."""
    nodes = [p for p in glob.glob("/dev/nvidia[0-9]*") if p[len("/dev/nvidia") :].isdigit()]
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return len(nodes)
    ids = [x for x in env.split(",") if x.strip() and x.strip() != "-1"]
    return min(len(ids), len(nodes)) if nodes else 0


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    return "cuda" if visible_gpu_count() > 0 else "cpu"

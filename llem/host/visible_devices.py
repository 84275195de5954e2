"""A job's CUDA_VISIBLE_DEVICES: `hardware.gpus` counted in the devices llem itself was started with.

`hardware.gpus` are indices as CUDA_VISIBLE_DEVICES sees them (llem/config/spec.py), so under
CUDA_VISIBLE_DEVICES=GPU-b,GPU-a a job with hardware.gpus=[0] runs on GPU-b, not on NVML's GPU 0.
What llem was started with is kept in LAUNCH_ENV by the CLI, because by the time a job's worker
starts, a launcher may have rewritten CUDA_VISIBLE_DEVICES (submitit's local executor numbers its
jobs' GPUs from 0) and an in-process job has narrowed it for the jobs before it.
"""

from __future__ import annotations

import os
from typing import MutableMapping, Optional

from llem.errors import UserError

LAUNCH_ENV = "LLEM_LAUNCH_CUDA_VISIBLE_DEVICES"
UNSET = "(unset)"  # CUDA_VISIBLE_DEVICES was not set where llem started: every GPU, in PCI order


def parse_visible_devices(value: Optional[str]) -> Optional[list[str]]:
    """CUDA_VISIBLE_DEVICES as CUDA reads it: None when unset; CUDA stops at the first invalid entry."""
    if value is None:
        return None
    out = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry or entry.startswith("-"):
            break
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        out.append(entry)
    return out


def remember_launch_devices(env: MutableMapping[str, str] = os.environ) -> None:
    """Keep the CUDA_VISIBLE_DEVICES llem was started with (the first llem process of a run decides)."""
    env.setdefault(LAUNCH_ENV, env.get("CUDA_VISIBLE_DEVICES", UNSET))


def launch_devices(env: MutableMapping[str, str] = os.environ) -> Optional[str]:
    """The CUDA_VISIBLE_DEVICES llem was started with (None: unset), else the current one."""
    value = env.get(LAUNCH_ENV)
    if value is None:
        return env.get("CUDA_VISIBLE_DEVICES")
    return None if value == UNSET else value


def restore_launch_devices(env: MutableMapping[str, str] = os.environ) -> None:
    """CUDA_VISIBLE_DEVICES back to what llem was started with (for a job without hardware.gpus that
    runs inline, in a process an earlier job narrowed); nothing where no launch value was kept."""
    value = env.get(LAUNCH_ENV)
    if value == UNSET:
        env.pop("CUDA_VISIBLE_DEVICES", None)
    elif value is not None:
        env["CUDA_VISIBLE_DEVICES"] = value


def narrow_visible(visible: Optional[str], gpus: list[int]) -> str:
    """CUDA_VISIBLE_DEVICES for a job on `gpus`, indices into `visible` (None: every GPU)."""
    if visible is None:
        return ",".join(str(g) for g in gpus)
    entries = parse_visible_devices(visible)
    beyond = [g for g in gpus if not 0 <= g < len(entries)]
    if beyond:
        raise UserError(
            f"hardware.gpus={gpus} asks for GPU {beyond[0]}, but llem was started with "
            f"CUDA_VISIBLE_DEVICES={visible}, which shows {len(entries)} GPU(s): use indices 0..{len(entries) - 1} "
            f"into that list, or start llem with more GPUs visible."
        )
    return ",".join(entries[g] for g in gpus)

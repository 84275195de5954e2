"""Environment snapshot: where and with what a measurement ran."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import llem
from llem.energy.gpuinfo import gpu_snapshot as _snapshot
from llem.host.multicast import MULTICAST_OFF
from llem.registry import engines

# What every job's environment.json records; each engine adds its own distributions (Engine.dists, .packages).
_PACKAGES = ("torch", "nvidia-ml-py", "zeus", "codecarbon", "mlflow", "hydra-core", "pydantic", "numpy")


# Environment variables every engine's stack reads (besides each engine's own, Engine.env_prefixes)
_COMMON_ENV = ("CUDA_", "NCCL_", "OMP_", "MKL_", "TORCH", "PYTORCH_", "HF_", "TOKENIZERS_")
_SECRET_MARKS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")  # names whose values are never written


def engine_env(environ=os.environ) -> dict:
    """The set variables that change what an engine runs (its own prefixes, Engine.env_prefixes, and its stack's),
    as this process sees them: e.g. VLLM_ENABLE_V1_MULTIPROCESSING=0 or VLLM_CPU_KVCACHE_SPACE, so that two results
    whose configs agree but whose engines were told different things apart say so. Secret-looking names
    (HF_TOKEN, VLLM_API_KEY) keep their name and lose their value."""
    prefixes = tuple(_COMMON_ENV) + tuple(p for e in engines().values() for p in e.env_prefixes)
    return {
        k: "(redacted)" if any(m in k.upper() for m in _SECRET_MARKS) else v
        for k, v in sorted(environ.items())
        if k.startswith(prefixes)
    }


def git_revision() -> str | None:
    """llem's own git revision: from its checkout, else LLEM_GIT_REVISION (set by the Docker
    launcher, whose image holds no checkout), else None."""
    root = Path(llem.__file__).resolve().parent.parent
    fallback = os.environ.get("LLEM_GIT_REVISION") or None
    if not (root / ".git").exists():
        return fallback
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True, text=True, timeout=5
        )
        rev = out.stdout.strip()
        if out.returncode != 0 or len(rev) != 40:  # a checkout without commits, or no git at all
            return fallback
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return f"{rev}-dirty" if dirty else rev
    except (OSError, subprocess.SubprocessError):
        return fallback


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _versions() -> dict:
    out = {}
    names = list(_PACKAGES)
    for e in engines().values():
        names += [d for d in (*e.packages, *e.dists) if d not in names]
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def gpu_snapshot(gpus: list[int] | None = None) -> list[dict]:
    """Per job GPU: name, UUID, driver, CUDA driver, power limit, persistence, ECC, MIG, clocks,
    temperature (read-only NVML queries); [] where NVML is absent. Default: every visible GPU."""
    return _snapshot(gpus)


def snapshot(gpus: list[int] | None = None) -> dict:
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "llem_version": llem.__version__,
        "llem_git_revision": git_revision(),
        "hostname": platform.node(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_total_gib": mem_kib / 2**20 if mem_kib else None,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda_device_order": os.environ.get("CUDA_DEVICE_ORDER"),  # PCI_BUS_ID: CUDA indices in NVML order
        "nvlink_multicast_env": {k: os.environ.get(k) for k in MULTICAST_OFF},  # llem/host/multicast.py
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "engine_env": engine_env(),
        "packages": _versions(),
        "gpus": gpu_snapshot(gpus),
    }

"""GPU conditions for the environment snapshot: read-only NVML queries, never a setting changed."""

from __future__ import annotations

import os
from typing import Optional

from llem.energy.nvml import NvmlUnavailable, init_nvml, load_nvml
from llem.energy.nvml_devices import resolve_gpus
from llem.host.visible_devices import parse_visible_devices


def _get(fn, *args):
    try:
        v = fn(*args)
    except Exception:
        return None
    return v.decode() if isinstance(v, bytes) else v


def _enabled(pair) -> Optional[bool]:
    """NVML (current, pending) mode pairs -> whether the current mode is on."""
    if pair is None:
        return None
    current = pair[0] if isinstance(pair, (tuple, list)) else pair
    return bool(current)


def _cuda_version(v) -> Optional[str]:
    return None if v is None else f"{v // 1000}.{(v % 1000) // 10}"


def describe_gpu(nvml, d) -> dict:
    h = d.handle
    limit = _get(nvml.nvmlDeviceGetPowerManagementLimit, h)
    enforced = _get(nvml.nvmlDeviceGetEnforcedPowerLimit, h)
    reasons_fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None
    )
    mem = _get(nvml.nvmlDeviceGetMemoryInfo, h)
    return {
        "device": d.key,
        "name": _get(nvml.nvmlDeviceGetName, h),
        "uuid": d.uuid,
        "mig_uuid": d.mig_uuid,
        "nvml_index": _get(nvml.nvmlDeviceGetIndex, h) if hasattr(nvml, "nvmlDeviceGetIndex") else None,
        "power_limit_w": None if limit is None else limit / 1000,
        "enforced_power_limit_w": None if enforced is None else enforced / 1000,
        "persistence_mode": _enabled(_get(nvml.nvmlDeviceGetPersistenceMode, h)),
        "ecc_enabled": _enabled(_get(nvml.nvmlDeviceGetEccMode, h)),
        "mig_enabled": _enabled(_get(nvml.nvmlDeviceGetMigMode, h)),
        "sm_clock_mhz": _get(nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_SM),
        "mem_clock_mhz": _get(nvml.nvmlDeviceGetClockInfo, h, nvml.NVML_CLOCK_MEM),
        "max_sm_clock_mhz": _get(nvml.nvmlDeviceGetMaxClockInfo, h, nvml.NVML_CLOCK_SM),
        "max_mem_clock_mhz": _get(nvml.nvmlDeviceGetMaxClockInfo, h, nvml.NVML_CLOCK_MEM),
        "temperature_c": _get(nvml.nvmlDeviceGetTemperature, h, nvml.NVML_TEMPERATURE_GPU),
        "clock_event_reasons": _get(reasons_fn, h) if reasons_fn else None,
        "memory_total_mib": None if mem is None else mem.total / 2**20,
        "memory_used_mib": None if mem is None else mem.used / 2**20,
    }


def gpu_snapshot(gpus: Optional[list[int]] = None, nvml=None) -> list[dict]:
    """One dict per job GPU (default: every GPU visible to this process); [] where NVML is absent.

    Driver and CUDA versions are machine-wide and repeated in each entry so one entry stands alone.
    """
    try:
        nvml = nvml if nvml is not None else load_nvml()
        init_nvml(nvml)
    except NvmlUnavailable:
        return []
    try:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if gpus is None:
            entries = parse_visible_devices(visible)
            gpus = list(range(nvml.nvmlDeviceGetCount() if entries is None else len(entries)))
        devices = resolve_gpus(nvml, gpus, visible)
        driver = _get(nvml.nvmlSystemGetDriverVersion)
        cuda = _cuda_version(_get(nvml.nvmlSystemGetCudaDriverVersion))
        return [dict(describe_gpu(nvml, d), driver_version=driver, cuda_driver_version=cuda) for d in devices]
    except Exception as exc:
        return [{"error": f"GPU snapshot failed: {exc}"}]
    finally:
        _get(nvml.nvmlShutdown)

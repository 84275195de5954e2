"""Power limit and locked clocks as sweep axes (hardware.power_limit_w, hardware.sm_clocks_mhz,
hardware.mem_clock_mhz): set through NVML before a job's engine loads, restored after it, also on
failure and SIGTERM.

Before anything is changed, a restore record (the GPU's UUID and its settings as they were) is
written to llem's cache (`gpu-restore/<uuid>.json`); it is removed once the GPU is restored. A job
killed outright (SIGKILL, the OOM killer, a node failure) leaves it behind: the next llem job on
that machine, or `llem gpu-restore`, puts the GPU back. NVML cannot read an earlier clock lock, so
restoring clocks means unlocking them (the driver's default), stated in the record.

Changing these needs root (or the admin's NVML permission); where the process may not change them
the job is refused in one sentence before the engine loads.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from llem.energy.nvml import NvmlUnavailable, init_nvml, load_nvml
from llem.energy.nvml_devices import resolve_gpus
from llem.errors import UserError
from llem.paths import cache_dir

RESTORE_DIR = "gpu-restore"


def wanted(hardware) -> dict:
    """The settings a job asks for (only those set)."""
    out = {}
    if hardware.power_limit_w is not None:
        out["power_limit_w"] = hardware.power_limit_w
    if hardware.sm_clocks_mhz is not None:
        out["sm_clocks_mhz"] = list(hardware.sm_clocks_mhz)
    if hardware.mem_clock_mhz is not None:
        out["mem_clock_mhz"] = hardware.mem_clock_mhz
    return out


def restore_dir() -> Path:
    path = cache_dir() / RESTORE_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def _record_path(uuid: str) -> Path:
    return restore_dir() / f"{uuid}.json"


def _nvml_error(nvml, exc: Exception, what: str, value) -> Exception:
    text = str(exc)
    value = f"{value:g}" if isinstance(value, float) else value
    if "permission" in text.lower() or type(exc).__name__.endswith("NoPermission"):
        return UserError(
            f"{what}={value} cannot be applied: this process may not change the GPU's settings "
            f"(NVML: {text}); run as root or ask the admin, or leave {what} unset."
        )
    if "not supported" in text.lower() or type(exc).__name__.endswith("NotSupported"):
        return UserError(f"{what}={value} cannot be applied: this GPU does not support it (NVML: {text}); leave {what} unset.")
    return UserError(f"{what}={value} could not be applied (NVML: {text}).")


def _apply_one(nvml, handle, settings: dict) -> None:
    if "power_limit_w" in settings:
        lo, hi = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
        mw = int(round(settings["power_limit_w"] * 1000))
        if not lo <= mw <= hi:
            raise UserError(
                f"hardware.power_limit_w={settings['power_limit_w']:g} is outside this GPU's range "
                f"{lo / 1000:g}-{hi / 1000:g} W: choose a limit inside it."
            )
        try:
            nvml.nvmlDeviceSetPowerManagementLimit(handle, mw)
        except nvml.NVMLError as exc:
            raise _nvml_error(nvml, exc, "hardware.power_limit_w", settings["power_limit_w"]) from None
    if "sm_clocks_mhz" in settings:
        lo, hi = settings["sm_clocks_mhz"]
        try:
            nvml.nvmlDeviceSetGpuLockedClocks(handle, lo, hi)
        except nvml.NVMLError as exc:
            raise _nvml_error(nvml, exc, "hardware.sm_clocks_mhz", settings["sm_clocks_mhz"]) from None
    if "mem_clock_mhz" in settings:
        mhz = settings["mem_clock_mhz"]
        try:
            nvml.nvmlDeviceSetMemoryLockedClocks(handle, mhz, mhz)
        except nvml.NVMLError as exc:
            raise _nvml_error(nvml, exc, "hardware.mem_clock_mhz", mhz) from None


def _restore_one(nvml, handle, record: dict) -> list[str]:
    """Put one GPU back as its record says; the steps that failed, as sentences."""
    failed = []
    steps = []
    if record.get("power_limit_mw") is not None:
        steps.append(("power limit", lambda: nvml.nvmlDeviceSetPowerManagementLimit(handle, record["power_limit_mw"])))
    if "sm_clocks_mhz" in record["changed"]:
        steps.append(("SM clocks", lambda: nvml.nvmlDeviceResetGpuLockedClocks(handle)))
    if "mem_clock_mhz" in record["changed"]:
        steps.append(("memory clock", lambda: nvml.nvmlDeviceResetMemoryLockedClocks(handle)))
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # keep going: restore as much as can be restored
            failed.append(f"{what}: {exc}")
    return failed


def _handle_by_uuid(nvml, uuid: str):
    return nvml.nvmlDeviceGetHandleByUUID(uuid)


def restore_record(nvml, path: Path) -> dict:
    """Restore the GPU a record names and delete the record if that worked."""
    record = json.loads(path.read_text())
    failed = _restore_one(nvml, _handle_by_uuid(nvml, record["uuid"]), record)
    if not failed:
        path.unlink(missing_ok=True)
    return {"uuid": record["uuid"], "restored": not failed, "failed": failed, "record": record}


def _pid_alive(pid: Optional[int]) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def restore_stale(nvml) -> list[dict]:
    """Restore GPUs whose records were left by a process that is gone (a killed job)."""
    out = []
    for path in sorted(restore_dir().glob("*.json")):
        try:
            owner = json.loads(path.read_text()).get("pid")
        except (OSError, ValueError):
            continue
        if not _pid_alive(owner):
            out.append(restore_record(nvml, path))
    return out


@contextmanager
def applied(hardware, gpus: list[int]) -> Iterator[Optional[dict]]:
    """Apply the job's GPU settings for the duration of the block; yields what was applied (None if nothing)."""
    settings = wanted(hardware)
    if not settings:
        yield None
        return
    if not gpus:
        names = ", ".join(f"hardware.{k}" for k in settings)
        raise UserError(f"{names} need a CUDA GPU, but this job runs on CPU: leave them unset or use a GPU hardware profile.")
    try:
        nvml = load_nvml()
        init_nvml(nvml)
    except NvmlUnavailable as exc:
        raise UserError(f"hardware.{next(iter(settings))} is set, but NVML cannot change this GPU: {exc}") from None
    restored = restore_stale(nvml)  # a killed job's changes first: never stack on top of them
    devices = resolve_gpus(nvml, gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
    records = []
    try:
        for d in devices:
            record = {
                "uuid": d.uuid,
                "pid": os.getpid(),
                "written_unix_s": time.time(),
                "changed": sorted(settings),
                "power_limit_mw": nvml.nvmlDeviceGetPowerManagementLimit(d.handle) if "power_limit_w" in settings else None,
                "clocks_restore": "unlock (NVML cannot read an earlier lock)",
            }
            path = _record_path(d.uuid)
            path.write_text(json.dumps(record))  # on disk before the GPU is touched
            records.append((d, path, record))
            _apply_one(nvml, d.handle, settings)
        state = {"settings": settings, "gpus": [d.uuid for d in devices], "stale_restored": restored, "restored": None}
        yield state
    finally:
        failed = []
        for d, path, record in records:
            not_restored = _restore_one(nvml, d.handle, record)
            if not_restored:
                failed += [f"{d.uuid} {f}" for f in not_restored]
            else:
                path.unlink(missing_ok=True)
        if records and "state" in locals():
            state["restored"] = not failed
            state["restore_failed"] = failed

"""Which NVML devices a job uses: logical CUDA indices -> NVML handles via CUDA_VISIBLE_DEVICES.

CUDA numbers the GPUs a process sees 0..n-1 in the order CUDA_VISIBLE_DEVICES lists them (indices,
`GPU-<uuid>` or a prefix of one, or `MIG-<uuid>`); NVML numbers all GPUs of the machine by PCI bus.
The energy counter belongs to the physical GPU: for a MIG instance we read its parent, which also
counts the other instances on that GPU (stated in the meter's description).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional


class GpuMappingError(Exception):
    """A job GPU that cannot be matched to an NVML device."""


@dataclass
class GpuDevice:
    key: str  # "gpu<logical index>", as the job sees it
    logical_index: int
    handle: object  # NVML handle of the physical GPU (energy, power, clocks)
    uuid: str
    visible_as: str  # the CUDA_VISIBLE_DEVICES entry (or NVML index) it came from
    mig_uuid: Optional[str] = None  # set when the job runs on a MIG instance of this GPU

    @property
    def caveat(self) -> Optional[str]:
        if self.mig_uuid:
            return (f"{self.key} is MIG instance {self.mig_uuid}: NVML's energy counter covers the whole "
                    f"physical GPU {self.uuid}, including any other MIG instances running on it")
        return None


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


def _uuid(nvml, handle) -> str:
    u = nvml.nvmlDeviceGetUUID(handle)
    return u.decode() if isinstance(u, bytes) else u


def _all_handles(nvml) -> list:
    return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]


def _by_uuid_prefix(nvml, entry: str):
    matches = [h for h in _all_handles(nvml) if _uuid(nvml, h).startswith(entry)]
    if len(matches) != 1:
        how = "no" if not matches else "more than one"
        raise GpuMappingError(f"CUDA_VISIBLE_DEVICES entry {entry} matches {how} GPU known to NVML")
    return matches[0]


def _torch_uuid(logical_index: int) -> Optional[str]:
    """The UUID CUDA itself reports for a logical device, if the job already initialised CUDA in torch.

    Integer entries are in CUDA's enumeration order, which equals NVML's PCI order only when
    CUDA_DEVICE_ORDER=PCI_BUS_ID or the GPUs are alike; this cross-check catches the other case.
    """
    torch = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_initialized():
            return None
        u = str(torch.cuda.get_device_properties(logical_index).uuid)
    except Exception:  # an engine without torch, or an old torch without .uuid
        return None
    return u if u.startswith("GPU-") else f"GPU-{u}"


def resolve_gpus(nvml, gpus: list[int], visible: Optional[str]) -> list[GpuDevice]:
    """NVML handles for the job's logical GPUs (NVML must be initialised)."""
    entries = parse_visible_devices(visible)
    if entries is None:
        entries = [str(i) for i in range(nvml.nvmlDeviceGetCount())]
    out = []
    for g in gpus:
        if not 0 <= g < len(entries):
            raise GpuMappingError(
                f"the job uses GPU {g} but only {len(entries)} GPU(s) are visible "
                f"(CUDA_VISIBLE_DEVICES={visible if visible is not None else 'unset'})")
        entry = entries[g]
        mig_uuid = None
        if entry.isdigit():
            handle = nvml.nvmlDeviceGetHandleByIndex(int(entry))
        elif entry.startswith("MIG-"):
            mig = nvml.nvmlDeviceGetHandleByUUID(entry)
            handle = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
            mig_uuid = entry
        else:
            handle = _by_uuid_prefix(nvml, entry)
        uuid = _uuid(nvml, handle)
        cuda_uuid = _torch_uuid(g) if mig_uuid is None else None
        if cuda_uuid and cuda_uuid.lower() != uuid.lower():
            handle = _by_uuid_prefix(nvml, cuda_uuid)
            uuid = _uuid(nvml, handle)
        out.append(GpuDevice(f"gpu{g}", g, handle, uuid, entry, mig_uuid))
    return out

"""Which NVML devices a job uses: logical CUDA indices -> NVML handles via CUDA_VISIBLE_DEVICES.

CUDA numbers the GPUs a process sees 0..n-1 in the order CUDA_VISIBLE_DEVICES lists them (indices,
`GPU-<uuid>` or `MIG-<uuid>`, or a unique prefix of one); NVML numbers all GPUs of the machine by PCI bus.
The energy counter belongs to the physical GPU: for a MIG instance we read its parent, which also
counts the other instances on that GPU (stated in the meter's description).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from llem.host.visible_devices import parse_visible_devices


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
    cuda_check: Optional[str] = None  # against the UUID CUDA reports, once the engine started (check_against_cuda)

    @property
    def caveat(self) -> Optional[str]:
        if self.mig_uuid:
            return (
                f"{self.key} is MIG instance {self.mig_uuid}: NVML's energy counter covers the whole "
                f"physical GPU {self.uuid}, including any other MIG instances running on it"
            )
        return None


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


def _mig_instances(nvml, parent) -> list:
    try:
        slots = nvml.nvmlDeviceGetMaxMigDeviceCount(parent)
    except nvml.NVMLError:  # not MIG-capable
        return []
    out = []
    for i in range(slots):
        try:
            out.append(nvml.nvmlDeviceGetMigDeviceHandleByIndex(parent, i))
        except nvml.NVMLError:  # an empty slot
            continue
    return out


def _mig_by_prefix(nvml, entry: str):
    """A MIG instance by its full UUID, or by a unique prefix of it (CUDA takes both). The legacy
    MIG-GPU-<uuid>/<gi>/<ci> names of pre-R470 drivers are not resolved: they match nothing here."""
    try:
        return nvml.nvmlDeviceGetHandleByUUID(entry)
    except nvml.NVMLError:
        pass
    matches = [m for p in _all_handles(nvml) for m in _mig_instances(nvml, p) if _uuid(nvml, m).startswith(entry)]
    if len(matches) != 1:
        how = "no" if not matches else "more than one"
        raise GpuMappingError(f"CUDA_VISIBLE_DEVICES entry {entry} matches {how} MIG instance known to NVML")
    return matches[0]


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
                f"(CUDA_VISIBLE_DEVICES={visible if visible is not None else 'unset'})"
            )
        entry = entries[g]
        mig_uuid = None
        if entry.isdigit():
            handle = nvml.nvmlDeviceGetHandleByIndex(int(entry))
        elif entry.startswith("MIG-"):
            mig = _mig_by_prefix(nvml, entry)
            handle = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
            mig_uuid = _uuid(nvml, mig)  # the whole UUID, also where the entry was a prefix of it
        else:
            handle = _by_uuid_prefix(nvml, entry)
        out.append(GpuDevice(f"gpu{g}", g, handle, _uuid(nvml, handle), entry, mig_uuid))
    return out


def _same(a: str, b: str) -> bool:
    norm = lambda u: u.lower().removeprefix("gpu-")
    return norm(a) == norm(b)


def check_against_cuda(nvml, devices: list[GpuDevice], reported: Optional[list[Optional[str]]]) -> list[str]:
    """After the engine started CUDA: compare each job GPU's NVML UUID with the UUID CUDA reports for
    that logical device. A mismatch (CUDA's enumeration is not the order the mapping assumed, e.g.
    CUDA_DEVICE_ORDER overridden) moves the device to the GPU CUDA reports, the one computing, and
    returns a `gpu_mapping` flag with both UUIDs; each device records what the check found."""
    flags = []
    for i, d in enumerate(devices):
        got = reported[i] if reported is not None and i < len(reported) else None
        if not got:
            d.cuda_check = "not checked: the engine does not report CUDA's device UUIDs"
        elif d.mig_uuid is not None:
            d.cuda_check = "match" if _same(got, d.mig_uuid) else f"not checked: MIG instance, CUDA reports {got}"
        elif _same(got, d.uuid):
            d.cuda_check = "match"
        else:
            was = d.uuid
            d.handle = _by_uuid_prefix(nvml, got if got.startswith("GPU-") else f"GPU-{got}")
            d.uuid = _uuid(nvml, d.handle)
            d.cuda_check = f"mismatch: mapped to {was}, CUDA reports {got}; metered {d.uuid}"
            flags.append(
                f"gpu_mapping: {d.key}: CUDA_VISIBLE_DEVICES entry {d.visible_as!r} maps to NVML GPU {was}, "
                f"but CUDA reports {got} for cuda:{d.logical_index}; energy is metered on {d.uuid}, the GPU "
                "that computes, while the time series and any power or clock settings followed the mapping "
                "(is CUDA_DEVICE_ORDER=PCI_BUS_ID overridden?)"
            )
    return flags

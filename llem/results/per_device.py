"""Energy per metered device (gpu0, gpu1, cpu-package-0, ...) over a job's windows, beside the
total that the headline metrics carry: a job on two GPUs reports each GPU's joules and which
physical GPU (UUID) each one is. Missing values stay None, never 0."""

from __future__ import annotations

from llem.results.stats import summarize


def meter_devices(meter: dict) -> dict[str, dict]:
    """Device key -> what the meter's description says of it (uuid, visible_as, cuda_check, ...),
    through a composite meter's parts."""
    out: dict[str, dict] = {}
    stack = [meter or {}]
    while stack:
        m = stack.pop()
        devices = m.get("devices")
        if isinstance(devices, dict):
            out.update({k: d for k, d in devices.items() if isinstance(d, dict)})
        stack += [p for p in m.get("parts") or [] if isinstance(p, dict)]
    return out


def per_device_energy(windows: list[dict], meter: dict) -> dict[str, dict]:
    """Per device key: its UUID where the meter names one, and the statistics of its joules per window."""
    keys = sorted({k for w in windows for k in ((w.get("energy") or {}).get("energy_j") or {})})
    described = meter_devices(meter)
    return {
        k: {
            "uuid": described.get(k, {}).get("uuid"),
            "energy_j": summarize([((w.get("energy") or {}).get("energy_j") or {}).get(k) for w in windows]),
        }
        for k in keys
    }

"""Whether a result's joules were measured or modelled, read from any result record (schema 1 or 2)."""

from __future__ import annotations


def meter_is_estimate(meter: dict) -> bool:
    """CodeCarbon (and any meter whose describe() says estimate) models its joules."""
    if not isinstance(meter, dict):
        return False
    return bool(meter.get("estimate")) or any(meter_is_estimate(p) for p in meter.get("parts") or [])


def record_is_estimate(record: dict) -> bool:
    return meter_is_estimate(((record or {}).get("energy") or {}).get("meter") or {})


def meter_label(record: dict) -> str | None:
    """The meter's name as shown everywhere a figure appears: 'codecarbon (estimate)'."""
    name = (((record or {}).get("energy") or {}).get("meter") or {}).get("meter")
    if name is None:
        return None
    return f"{name} (estimate)" if record_is_estimate(record) else name


# Device keys of the meters' joules (gpu0, cpu-package-0, dram-0; CodeCarbon's cpu_estimate, ...) -> the part of
# the machine they count, in the order scopes are named.
_SCOPE_PARTS = (("gpu", ("gpu",)), ("cpu", ("cpu",)), ("dram", ("dram", "ram")))


def energy_scope(device_keys) -> "str | None":
    """What a result's joules count, from the device keys its total sums over: "gpu", "gpu+cpu+dram",
    "cpu+dram", ... (None where no key is known). A key of no known part is named as it is."""
    found, other = [], []
    for key in device_keys or ():
        k = str(key).lower()
        part = next((name for name, prefixes in _SCOPE_PARTS if k.startswith(prefixes)), None)
        if part is None:
            other.append(k)
        elif part not in found:
            found.append(part)
    ordered = [name for name, _ in _SCOPE_PARTS if name in found] + sorted(set(other))
    return "+".join(ordered) or None


def record_scope(windows: list[dict]) -> "str | None":
    """The scope of a result's windows: the device keys of their energy (every window's, which the meter fixes)."""
    keys: list[str] = []
    for w in windows or []:
        for k in (w.get("energy") or {}).get("energy_j") or {}:
            if k not in keys:
                keys.append(k)
    return energy_scope(keys)

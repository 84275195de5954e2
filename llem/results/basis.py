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

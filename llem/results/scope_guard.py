"""A sweep that would mix energy scopes is refused before the model loads.

`energy=auto` resolves per machine: NVML for the GPUs, plus RAPL CPU and DRAM wherever powercap is
readable. The resolved meters are not part of a run's identity (the spec is validated before any
meter exists, often on another machine), so a sweep resumed elsewhere would keep its complete
results counting, say, gpu+cpu+dram and add new ones counting gpu only, under the same config
hashes, side by side. Instead, once a job has resolved its meter: if complete results under the same
output root were measured with the same energy settings but count another scope, the job stops with
one sentence (exit 2) before its engine loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llem import paths
from llem.errors import UserError
from llem.results.basis import energy_scope
from llem.results.complete import complete_result


def meter_keys(described: dict) -> list[str]:
    """The device keys a meter (its describe() record, parts included) sums over."""
    keys: list[str] = []
    devices = described.get("devices")
    if isinstance(devices, dict):
        keys += list(devices)
    elif isinstance(devices, list):
        keys += [str(d) for d in devices]
    for g in described.get("gpu_indices") or []:  # Zeus
        keys.append(f"gpu{g}")
    for part in described.get("parts") or []:
        keys += meter_keys(part)
    return keys


def meter_scope(meter) -> Optional[str]:
    return energy_scope(meter_keys(meter.describe())) if meter.measures else None


def refuse_mixed_scope(spec, meter) -> None:
    """UserError where complete results of the same energy settings under this output root count another scope."""
    scope = meter_scope(meter)
    if scope is None:
        return
    energy = spec.energy.model_dump(mode="json")
    own = paths.spec_run_dir(spec).resolve()
    others: dict[str, list[str]] = {}
    root = paths.runs_dir(spec.run.output_root)
    for run in sorted(root.iterdir()) if root.is_dir() else []:
        if run.resolve() == own:
            continue
        result = complete_result(run)
        if not result or (result.get("spec") or {}).get("energy") != energy:
            continue
        theirs = (result.get("metrics") or {}).get("energy_scope")
        if theirs and theirs != scope:
            others.setdefault(theirs, []).append(run.name)
    if others:
        theirs, runs = next(iter(others.items()))
        raise UserError(
            f"energy={spec.energy.meter} counts {scope} here, but {len(runs)} complete result(s) with the same energy "
            f"settings under {Path(spec.run.output_root)} count {theirs} (e.g. {runs[0]}): their J/token would not be "
            f"comparable; set energy.include_cpu or energy.meter so that both count the same, or use another "
            f"run.output_root."
        )

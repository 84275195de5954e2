"""The result record (result.json). Versioned; units in field names; missing values are null."""

from __future__ import annotations

import time

import llem
from llem.spec import SCHEMA_VERSION

# 2: per-window alignment, residual and conditions; energy.uncertainty; baseline "after" and drift;
#    validity.windows_measured; metrics.energy_basis. Version-1 results stay readable (llem report
#    reads fields with .get and shows what they lack as n/a).
RESULT_SCHEMA_VERSION = 2


def meter_flags(meter: dict) -> list[str]:
    """Flags a meter raised about its set-up (MIG, ...), from its describe(), parts included."""
    out = list(meter.get("flags") or [])
    for p in meter.get("parts") or []:
        out += meter_flags(p)
    return out


def energy_basis(meter: dict) -> str:
    from llem.results.basis import meter_is_estimate

    return "estimate (modelled, not measured)" if meter_is_estimate(meter) else "measured (hardware energy counters)"


def windows_measured(windows: list[dict]) -> tuple[int, int, list[str]]:
    """How many windows have joules, of how many, and why the others do not."""
    reasons = []
    for w in windows:
        if w.get("energy_j") is None:
            r = (w.get("energy") or {}).get("reason")
            if r and r not in reasons:
                reasons.append(r)
    return sum(w.get("energy_j") is not None for w in windows), len(windows), reasons


def _headline(measured: dict) -> dict:
    stats, lat = measured["statistics"], measured["latency"]

    def mean(field: str):
        return (stats.get(field) or {}).get("mean")

    reason = None
    n, total, reasons = windows_measured(measured["windows"])
    if n == 0:
        reason = "; ".join(sorted(reasons)) or "no energy measured"
    elif n < total:  # the mean is over the measured windows only: say so where the number is
        reason = f"{n} of {total} windows measured; the others: " + "; ".join(reasons)
    return {
        "energy_j_per_output_token": mean("energy_j_per_output_token"),
        "dynamic_energy_j_per_output_token": mean("dynamic_energy_j_per_output_token"),
        "energy_j": mean("energy_j"),
        "energy_j_per_request": mean("energy_j_per_request"),
        "output_tokens_per_j": mean("output_tokens_per_j"),
        "avg_power_w": mean("avg_power_w"),
        "energy_delay_j_s": mean("energy_delay_j_s"),
        "co2e_g": mean("co2e_g"),
        "energy_reason": reason,
        "energy_basis": energy_basis(measured["meter"]) if n else None,
        "output_tokens_per_s": mean("output_tokens_per_s"),
        "requests_per_s": mean("requests_per_s"),
        "window_duration_s": mean("duration_s"),
        **{k: v for k, v in lat.items() if k != "batches"},
    }


def _validity(spec, measured: dict, uncertainty: dict) -> dict:
    from llem.results.uncertainty import budget_flags

    windows = measured["windows"]
    n, total, reasons = windows_measured(windows)
    flags = list(measured["flags"]) + meter_flags(measured["meter"])
    if 0 < n < total:
        flags.append(f"partially_measured: {n} of {total} windows measured: " + "; ".join(reasons))
    flags += budget_flags(uncertainty, windows, spec.energy)
    return {"ok": not flags, "flags": flags, "windows_measured": f"{n} of {total}",
            "energy_basis": energy_basis(measured["meter"]) if n else None}


def assemble(spec, run_id: str, measured: dict, environment: dict, started: float) -> dict:
    from llem.results.uncertainty import budget

    uncertainty = budget(measured["windows"], measured["baseline"])
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "spec_schema_version": SCHEMA_VERSION,
        "status": "ok",
        "identity": {
            "run_id": run_id,
            "config_hash": spec.config_hash(),
            "llem_version": llem.__version__,
            "llem_git_revision": environment.get("llem_git_revision"),
            "backend": spec.backend_name,
            "engine": measured["engine"].get("engine"),
            "engine_version": measured["engine"].get("engine_version"),
            "model": spec.model.name,
            "hardware": spec.hardware.name,
            "device": measured["device"],
            "started_unix_s": started,
            "finished_unix_s": time.time(),
        },
        "spec": spec.to_dict(),
        "metrics": _headline(measured),
        "statistics": measured["statistics"],
        "windows": measured["windows"],
        "energy": {
            "meter": measured["meter"],
            "baseline": measured["baseline"],
            "uncertainty": uncertainty,  # llem/results/uncertainty.py, docs/energy.md
            "tokens_counted": measured.get("tokens_counted", "output ids returned by the engine, per request (engine-side count)"),
        },
        "engine": measured["engine"],
        "latency": measured["latency"],
        "memory": measured["memory"],
        "load_s": measured["load_s"],  # null when the engine was loaded by an earlier job of the sweep
        "engine_load": measured.get("engine_load"),  # reused?, the load's duration, the job that loaded it
        "requests": measured["requests"],
        "timeseries": measured["timeseries"],
        "validity": _validity(spec, measured, uncertainty),
        **({"server": measured["server"]} if "server" in measured else {}),  # workload.mode=server
        "files": {"config": "config.yaml", "environment": "environment.json"},
    }


def failure(spec_dict: dict, run_id: str, config_hash: str, error: dict, started: float) -> dict:
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "status": "failed",
        "identity": {"run_id": run_id, "config_hash": config_hash, "llem_version": llem.__version__,
                     "started_unix_s": started, "finished_unix_s": time.time()},
        "spec": spec_dict,
        "error": error,
    }

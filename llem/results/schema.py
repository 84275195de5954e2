"""The result record (result.json). Versioned; units in field names; missing values are null."""

from __future__ import annotations

import time

import llem
from llem.results.basis import meter_is_estimate, record_scope
from llem.results.efficiency import roofline_record
from llem.results.measured import Measured
from llem.results.metrics import STAT_FIELDS
from llem.results.per_device import per_device_energy
from llem.results.stats import summarize
from llem.results.uncertainty import budget, budget_flags

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


def _headline(measured: Measured) -> dict:
    stats, lat = measured.statistics, measured.latency

    def mean(field: str):
        return (stats.get(field) or {}).get("mean")

    reason = None
    n, total, reasons = windows_measured(measured.windows)
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
        "energy_basis": energy_basis(measured.meter) if n else None,
        # what the joules count ("gpu", "gpu+cpu+dram", ...): from the meters the job resolved (energy=auto adds
        # RAPL wherever it is readable); results of different scope are not comparable
        "energy_scope": record_scope(measured.windows) if n else None,
        "output_tokens_per_s": mean("output_tokens_per_s"),
        "requests_per_s": mean("requests_per_s"),
        "window_duration_s": mean("duration_s"),
        **{k: v for k, v in lat.items() if k != "batches"},
    }


def _validity(spec, measured: Measured, uncertainty: dict) -> dict:
    windows = measured.windows
    n, total, reasons = windows_measured(windows)
    flags = list(measured.flags) + meter_flags(measured.meter)
    if 0 < n < total:
        flags.append(f"partially_measured: {n} of {total} windows measured: " + "; ".join(reasons))
    flags += budget_flags(uncertainty, windows, spec.energy)
    return {
        "ok": not flags,
        "flags": flags,
        "windows_measured": f"{n} of {total}",
        "energy_basis": energy_basis(measured.meter) if n else None,
    }


def _phase_headline(phases) -> dict:
    if not phases:
        return {}
    return {
        k: phases[k]["mean"]
        for k in (
            "prefill_j_per_input_token",
            "decode_j_per_output_token",
            "prefill_dynamic_j_per_input_token",
            "decode_dynamic_j_per_output_token",
        )
    }


def _structured_headline(block) -> dict:
    if not block:
        return {}
    return {
        "structured_valid_fraction": block["valid_fraction"],
        "energy_j_per_valid_object": block["energy_j_per_valid_object"],
        "tokens_per_object": block["tokens_per_object"],
    }


def _speculative_headline(block) -> dict:
    """Speculative decoding's acceptance and J per accepted token beside J per output token (null where the job
    configures none, or the engine reported none: the `speculative` block says why)."""
    per_accepted = (block or {}).get("energy_j_per_accepted_token") or {}
    return {
        "speculative_acceptance_rate": (block or {}).get("acceptance_rate"),
        "energy_j_per_accepted_token": per_accepted.get("mean"),
    }


def assemble(spec, measured: Measured, environment: dict, started: float) -> dict:
    """The result record of one job: identity, spec, headline metrics, windows, statistics, validity."""
    stage = (measured.repeatability or {}).get("first_stage_windows")
    if stage:  # windows from the two-stage rule (llem/harness/repeat.py): intervals that keep their 95%
        measured.statistics = {f: summarize([w.get(f) for w in measured.windows], stage) for f in STAT_FIELDS}
    roofline = roofline_record(spec, measured, environment)
    metrics = dict(
        _headline(measured),
        mfu_prefill=roofline["mfu_prefill"],
        mbu_decode=roofline["mbu_decode"],
        **_phase_headline(measured.phases),
        **_structured_headline(measured.structured),
        **_speculative_headline(measured.speculative),
    )
    uncertainty = budget(measured.windows, measured.baseline, stage)
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "spec_schema_version": spec.schema_version,
        "status": "ok",
        "identity": {
            "run_id": spec.run_id(),
            "config_hash": spec.config_hash(),
            "llem_version": llem.__version__,
            "llem_git_revision": environment.get("llem_git_revision"),
            "backend": spec.backend_name,
            "engine": measured.engine.get("engine"),
            "engine_version": measured.engine.get("engine_version"),
            "model": spec.model.name,
            "hardware": spec.hardware.name,
            "device": measured.device,
            "started_unix_s": started,
            "finished_unix_s": time.time(),
        },
        "spec": spec.to_dict(),
        "metrics": metrics,
        "statistics": measured.statistics,
        "windows": measured.windows,
        "energy": {
            "meter": measured.meter,
            "baseline": measured.baseline,
            "per_device": per_device_energy(measured.windows, measured.meter),  # each GPU's joules, its UUID
            "uncertainty": uncertainty,  # llem/results/uncertainty.py, docs/energy.md
            "tokens_counted": measured.tokens_counted,
        },
        "engine": measured.engine,
        "latency": measured.latency,
        "memory": measured.memory,
        "load_s": measured.load_s,  # null when the engine was loaded by an earlier job of the sweep
        "engine_load": measured.engine_load,  # reused?, the load's duration, the job that loaded it
        "requests": measured.requests,
        "timeseries": measured.timeseries,
        "roofline": roofline,  # MFU (prefill) and MBU (decode) against datasheet peaks, or null with a reason
        "outputs": measured.outputs,  # per request: sha256 and first ids of the output token ids (greedy: comparable)
        "phases": measured.phases,  # run.phases: prefill J/input token, decode J/output token, the time split
        "repeatability": measured.repeatability,  # windows taken, interval reached, target met or why not, drift
        "gpu_settings": measured.gpu_settings,  # power limit / locked clocks set for this job (null: left alone)
        "validity": _validity(spec, measured, uncertainty),
        **({"server": measured.server} if measured.server is not None else {}),  # workload.mode=server
        **({"structured": measured.structured} if measured.structured is not None else {}),  # json_schema outputs
        "prefix_cache": measured.prefix_cache,  # hit rate read back from the engine, intended share (docs/workloads.md)
        # speculative decoding where configured: acceptance read back from the engine, J per accepted token (null: none)
        "speculative": measured.speculative,
        "files": {"config": "config.yaml", "environment": "environment.json"},
    }


def stopped_record(status: str, spec_dict: dict, run_id: str, config_hash: str, started: float) -> dict:
    """The fields a job's record has when it produced no result (failed, interrupted): one owner, so
    failure.json and interrupted.json keep the same head, in the same key order."""
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "status": status,
        "identity": {
            "run_id": run_id,
            "config_hash": config_hash,
            "llem_version": llem.__version__,
            "started_unix_s": started,
            "finished_unix_s": time.time(),
        },
        "spec": spec_dict,
    }


def failure(spec_dict: dict, run_id: str, config_hash: str, error: dict, started: float) -> dict:
    return dict(stopped_record("failed", spec_dict, run_id, config_hash, started), error=error)

"""What one job sends to a tracker, built from its record on disk (pure data, no mlflow import).

Params are write-once and limited in MLflow, so a curated set is logged; the full resolved config
goes up as an artifact. Missing values are left out, never logged as 0.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

from llem import paths
from llem.results.basis import meter_label, record_is_estimate, record_scope

# Headline metrics (means over the measured windows) copied from result["metrics"].
HEADLINE_METRICS = (
    "energy_j_per_output_token",
    "dynamic_energy_j_per_output_token",
    "energy_j",
    "energy_j_per_request",
    "output_tokens_per_j",
    "avg_power_w",
    "energy_delay_j_s",
    "co2e_g",
    "output_tokens_per_s",
    "requests_per_s",
    "window_duration_s",
    "batch_latency_p50_s",
    "batch_latency_p90_s",
    "batch_latency_p99_s",
    "batch_latency_mean_s",
    # time to first token (offline engines that expose it; server mode) and server-mode latencies
    *(f"{m}_{p}_s" for m in ("ttft", "itl", "tpot", "e2e_latency") for p in ("p50", "p90", "p99", "mean")),
    "goodput_requests_per_s",
    "mfu_prefill",
    "mbu_decode",  # roofline efficiency against datasheet peaks (llem/results/roofline.py)
    "speculative_acceptance_rate",
    "energy_j_per_accepted_token",  # speculative decoding, where configured
)
# Fields with a confidence interval logged beside the mean (result["statistics"]).
CI_FIELDS = ("energy_j_per_output_token", "dynamic_energy_j_per_output_token", "output_tokens_per_s", "energy_j", "avg_power_w")
# Per-window values, logged with the window index as the step.
WINDOW_FIELDS = (
    "duration_s",
    "output_tokens_per_s",
    "energy_j",
    "dynamic_energy_j",
    "energy_j_per_output_token",
    "dynamic_energy_j_per_output_token",
    "avg_power_w",
)

MAX_PARAM_CHARS = 500
MAX_TAG_CHARS = 5000


def measurement_id(record: dict) -> str:
    """One measurement (not one config: a forced re-run is a new measurement) -> a stable key."""
    ident = record.get("identity", {})
    blob = f"{ident.get('run_id')}|{ident.get('started_unix_s')!r}|{record.get('status')}"
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _number(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if v == v else None  # NaN is missing too


def gpu_name(environment: Optional[dict]) -> Optional[str]:
    """The job GPUs' names as NVML reported them in the environment snapshot, else None."""
    gpus = (environment or {}).get("gpus")
    if not isinstance(gpus, list):
        return None
    names = sorted({str(g["name"]) for g in gpus if isinstance(g, dict) and g.get("name")})
    return ", ".join(names) or None


def params(record: dict, environment: Optional[dict] = None) -> dict[str, str]:
    spec = record.get("spec", {})
    ident = record.get("identity", {})
    backend, model, hw = spec.get("backend", {}), spec.get("model", {}), spec.get("hardware", {})
    workload, run, energy = spec.get("workload", {}), spec.get("run", {}), spec.get("energy", {})
    meter = (record.get("energy") or {}).get("meter") or {}
    out = {
        "backend": backend.get("name"),
        "engine": ident.get("engine"),
        "engine_version": ident.get("engine_version"),
        "model": model.get("name"),
        "model_id": model.get("id"),
        "model_weights": model.get("weights"),
        "dtype": ((record.get("engine") or {}).get("effective_settings") or {}).get("dtype") or backend.get("dtype"),
        "batch_size": workload.get("batch_size"),
        "input_tokens": workload.get("input_tokens"),
        "output_tokens": workload.get("output_tokens"),
        "num_prompts": workload.get("num_prompts"),
        "workload": workload.get("name"),
        "workload_source": workload.get("source"),
        "hardware": hw.get("name"),
        "device": ident.get("device"),
        "gpu_count": hw.get("gpu_count") if ident.get("device") == "cuda" else None,
        "gpu_name": gpu_name(environment),
        "cpu_model": (environment or {}).get("cpu_model"),
        "energy_meter": meter_label(record) or energy.get("meter"),  # 'codecarbon (estimate)'
        "energy_basis": ("estimate" if record_is_estimate(record) else "measured") if meter.get("meter") else None,
        # what the joules count: gpu, gpu+cpu+dram, ... (schema-2 results without the field: from their windows)
        "energy_scope": (record.get("metrics") or {}).get("energy_scope")
        or (record_scope(record.get("windows") or []) if (record.get("metrics") or {}).get("energy_j") is not None else None),
        "repeats": run.get("repeats"),
        "warmup": run.get("warmup"),
        "config_hash": ident.get("config_hash"),
    }
    for key, value in backend.items():  # the engine settings that shape the numbers
        if key not in ("name", "dtype") and isinstance(value, (str, int, float, bool)):
            out[f"backend.{key}"] = value
    return {k: str(v)[:MAX_PARAM_CHARS] for k, v in out.items() if v is not None}


def metrics(record: dict) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp_ms, step) for every measured number; missing ones are left out."""
    if record.get("status") != "ok":
        return []
    finished_ms = int(1000 * (record.get("identity", {}).get("finished_unix_s") or 0))
    out = []
    headline = record.get("metrics", {})
    for key in HEADLINE_METRICS:  # once, under result.json's names (what run.objective and the links sort by)
        v = _number(headline.get(key))
        if v is not None:
            out.append((key, v, finished_ms, 0))
    stats = record.get("statistics", {})
    for key in CI_FIELDS:
        st = stats.get(key) or {}
        for part in ("ci95_low", "ci95_high", "std", "cv"):
            v = _number(st.get(part))
            if v is not None:
                out.append((f"{key}.{part}", v, finished_ms, 0))
    for w in record.get("windows", []):
        step = int(w.get("index", 0))
        ts = int(1000 * (w.get("started_unix_s") or 0)) or finished_ms
        for key in WINDOW_FIELDS:
            v = _number(w.get(key))
            if v is not None:
                out.append((f"window.{key}", v, ts, step))
    for key, d in (((record.get("energy") or {}).get("per_device")) or {}).items():  # gpu0, gpu1, ...
        v = _number(((d or {}).get("energy_j") or {}).get("mean"))
        if v is not None:
            out.append((f"{key}.energy_j", v, finished_ms, 0))
    for key, u in (((record.get("energy") or {}).get("uncertainty")) or {}).items():  # schema 2
        for part in ("expanded", "relative_expanded"):
            v = _number((u or {}).get(part))
            if v is not None:
                out.append((f"{key}.uncertainty_{part}", v, finished_ms, 0))
    ts_summary = record.get("timeseries") or {}
    if isinstance(ts_summary, dict):
        flat = dict(ts_summary)
        for part in ("windows", "outside_windows"):  # schema 2: window time apart from idle and cooldown
            for key, value in (ts_summary.get(part) or {}).items():
                flat[f"{part}.{key}"] = value
        for key, value in flat.items():
            v = _number(value)
            if v is not None and ("power" in key or "temp" in key or "clock" in key or "throttled" in key):
                out.append((f"timeseries.{key}", v, finished_ms, 0))
    v = _number(record.get("load_s"))
    if v is not None:
        out.append(("load_s", v, finished_ms, 0))
    for key, value in (record.get("memory") or {}).items():
        v = _number(value)
        if v is not None:
            out.append((f"memory.{key}", v, finished_ms, 0))
    return out


def tags(record: dict, sweep: Optional[dict] = None) -> dict[str, str]:
    ident = record.get("identity", {})
    out = {
        "mlflow.runName": ident.get("run_id"),
        "llem.run_id": ident.get("run_id"),
        "llem.config_hash": ident.get("config_hash"),
        "llem.measurement_id": measurement_id(record),
        "llem.status": record.get("status"),
        "llem.version": ident.get("llem_version"),
        "llem.git_revision": ident.get("llem_git_revision"),
        "llem.role": "job",
    }
    if record.get("status") == "ok":
        reason = record.get("metrics", {}).get("energy_reason")
        if record.get("metrics", {}).get("energy_j") is None and reason:
            out["llem.energy"] = f"not measured: {reason}"
        elif record_is_estimate(record):
            out["llem.energy"] = "estimate: CodeCarbon models CPU/RAM power (TDP and RAM-size models), not counter readings"
        elif reason:  # some windows measured
            out["llem.energy"] = reason
        flags = (record.get("validity") or {}).get("flags") or []
        if flags:
            out["llem.validity_flags"] = " | ".join(flags)
        load = record.get("engine_load") or {}
        if load.get("reused"):  # measured on the engine (or server) an earlier job of the sweep loaded
            out["llem.engine_loaded_for"] = load.get("loaded_for")
    else:
        err = record.get("error") or {}
        out["llem.error_type"] = err.get("type")
        out["llem.error_message"] = err.get("message")
    if sweep:
        out["llem.sweep_id"] = sweep["sweep_id"]
        out["llem.sweep"] = sweep.get("name")
        if sweep.get("parent_run_id"):
            out["mlflow.parentRunId"] = sweep["parent_run_id"]
    return {k: str(v)[:MAX_TAG_CHARS] for k, v in out.items() if v is not None}


def artifact_files(run_dir: Path, record: dict) -> list[tuple[Path, Optional[str]]]:
    """(file, artifact sub-folder) for every sidecar file of the run that exists."""
    run_dir = Path(run_dir)
    names = [paths.CONFIG, paths.RESULT, paths.ENVIRONMENT, paths.FAILURE, paths.TRACEBACK]
    ts = record.get("timeseries")
    if isinstance(ts, dict) and ts.get("file"):
        names.append(str(ts["file"]))
    names.append(paths.TIMESERIES)
    out, seen = [], set()
    for name in names:
        path = run_dir / name
        if name not in seen and path.is_file():
            seen.add(name)
            out.append((path, None))
    plots = run_dir / paths.PLOTS
    if plots.is_dir():
        out += [(p, paths.PLOTS) for p in sorted(plots.glob("*.png"))]
    return out

"""Result records built from realistic values, for the energy plots (this machine measures no energy).

Sources, all in the repo or public: the H100 figures in docs (MEASUREMENT.md, copied here as
numbers): transformers generate on a 1.1B random-weight Llama, 128 prompt + 128 new tokens,
dynamic cache bs1 43 tok/s 3.2 J/token, bs8 624 tok/s 0.25 J/token, bs64 4257 tok/s 42 mJ/token;
static cache bs1 366 tok/s 0.76 J/token, bs8 2654 tok/s, bs64 11723 tok/s 36 mJ/token; llama.cpp
f16 bs1 ~500 tok/s 0.67 J/token at 335 W. One run gets the recorded H100 NVML trace
(tests/data/nvml_trace_h100.csv) as its power time series, with its windows placed in the trace's
generate phase and its joules taken from the trace's energy counter at the window edges.
Three repeats per point with a few percent of spread, so confidence intervals exist.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from llem.results.metrics import latency_summary, summarize_windows, window_metrics

TRACE = Path(__file__).resolve().parent.parent / "data" / "nvml_trace_h100.csv"
TOKENS_PER_REQUEST = 128

# (backend, cache, batch, tok/s, J/token); static bs8's J/token is interpolated (~power 2654 tok/s x 0.09 J).
POINTS = [
    # dynamic bs1 (43 tok/s, 3.2 J/token) is the trace run below: the trace's generate phase is that job.
    ("pytorch", "dynamic", 8, 624.0, 0.25),
    ("pytorch", "dynamic", 64, 4257.0, 0.042),
    ("pytorch", "static", 1, 366.0, 0.76),
    ("pytorch", "static", 8, 2654.0, 0.09),
    ("pytorch", "static", 64, 11723.0, 0.036),
    ("llamacpp", "none", 1, 500.0, 0.67),
]
SPREAD = (1.0, 1.03, 0.975)  # repeat-to-repeat variation (CV ~2-3%, as after a cooldown)


def _spec(backend: str, cache: str, batch: int) -> dict:
    b = {"name": backend, "dtype": "bfloat16"}
    if backend == "pytorch":
        b["cache_implementation"] = cache
    return {
        "backend": b,
        "model": {"name": "tinyllama-1.1b", "id": "TinyLlama/TinyLlama-1.1B", "weights": "random"},
        "hardware": {"name": "h100", "gpu_count": 1},
        "energy": {"meter": "nvml"},
        "workload": {
            "name": "synthetic",
            "source": "synthetic",
            "batch_size": batch,
            "num_prompts": batch * 4,
            "input_tokens": 128,
            "output_tokens": TOKENS_PER_REQUEST,
        },
        "run": {"repeats": 3, "warmup": 1},
    }


def _record(run_id: str, spec: dict, windows: list[dict], timeseries: dict | None) -> dict:
    stats = summarize_windows(windows)
    lat = latency_summary(windows)
    return {
        "schema_version": 1,
        "status": "ok",
        "identity": {
            "run_id": run_id,
            "config_hash": hashlib.sha256(run_id.encode()).hexdigest()[:12],
            "llem_version": "0.1.0",
            "llem_git_revision": "test",
            "backend": spec["backend"]["name"],
            "engine": spec["backend"]["name"],
            "engine_version": "test",
            "model": spec["model"]["name"],
            "hardware": "h100",
            "device": "cuda",
            "started_unix_s": windows[0]["started_unix_s"] - 5,
            "finished_unix_s": windows[-1]["started_unix_s"] + 5,
        },
        "spec": spec,
        "metrics": {
            "energy_j_per_output_token": stats["energy_j_per_output_token"]["mean"],
            "dynamic_energy_j_per_output_token": stats["dynamic_energy_j_per_output_token"]["mean"],
            "energy_j": stats["energy_j"]["mean"],
            "avg_power_w": stats["avg_power_w"]["mean"],
            "output_tokens_per_s": stats["output_tokens_per_s"]["mean"],
            "energy_reason": None,
            **{k: v for k, v in lat.items() if k != "batches"},
        },
        "statistics": stats,
        "windows": windows,
        "energy": {"meter": {"meter": "nvml"}},
        "timeseries": timeseries,
        "validity": {"ok": True, "flags": []},
    }


def _window(i: int, start: float, tps: float, jpt: float, batch: int, requests: int, baseline_w: float) -> dict:
    tokens = requests * TOKENS_PER_REQUEST
    duration = tokens / tps
    w = window_metrics(duration, requests, requests * 128, tokens, jpt * tokens, baseline_w, None)
    per_batch = duration / max(requests // batch, 1)
    w.update(index=i, started_unix_s=start, batch_latency_s=[per_batch] * max(requests // batch, 1), energy={})
    return w


def write_point_runs(root: Path, t0: float = 1.8e9) -> list[Path]:
    """One run dir per POINTS entry under root/runs; returns them."""
    dirs = []
    for n, (backend, cache, batch, tps, jpt) in enumerate(POINTS):
        spec = _spec(backend, cache, batch)
        run_id = f"{backend}_{cache}_bs{batch}-{n:012d}"
        windows = [_window(i, t0 + 100 * n + 20 * i, tps * s, jpt / s, batch, batch * 4, 128.0) for i, s in enumerate(SPREAD)]
        d = root / "runs" / run_id
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps(_record(run_id, spec, windows, None)))
        dirs.append(d)
    return dirs


def write_trace_run(root: Path, t0: float = 1.8e9) -> Path:
    """The dynamic-cache bs1 run, its time series and joules from the recorded H100 trace: the
    trace's generate phase (25.1-44.7 s, ~140 W) is that job, 43 tok/s. Windows of 2 requests x 128
    tokens (5.95 s each) sit inside it; joules are counter differences at the window edges."""
    rows = list(csv.DictReader(open(TRACE, newline="")))
    spans = [(26.0, 31.95), (32.3, 38.25), (38.6, 44.55)]

    def energy_at(t: float) -> float:
        before = [r for r in rows if float(r["t_s"]) <= t]
        return int(before[-1]["energy_mj"]) / 1000.0

    spec = _spec("pytorch", "dynamic", 1)
    spec["workload"]["num_prompts"] = 2
    windows = []
    for i, (a, b) in enumerate(spans):
        joules = energy_at(b) - energy_at(a)
        tokens = 2 * TOKENS_PER_REQUEST
        w = window_metrics(b - a, 2, 2 * 128, tokens, joules, 128.0, None)
        w.update(index=i, started_unix_s=t0 + a, batch_latency_s=[(b - a) / 2] * 2, energy={})
        windows.append(w)
    run_id = "pytorch_dynamic_bs1-00000000beef"
    d = root / "runs" / run_id
    d.mkdir(parents=True)
    with open(d / "timeseries.csv", "w", newline="") as fh:  # the sampler's format (llem.energy.sampler.COLUMNS)
        w = csv.writer(fh)
        w.writerow(["t_unix_s", "device", "power_w", "temperature_c", "sm_clock_mhz", "throttle_reasons", "memory_used_mib"])
        for r in rows:
            w.writerow(
                [
                    t0 + float(r["t_s"]),
                    "gpu0",
                    int(r["power_instant_mw"]) / 1000,
                    r["temp_c"],
                    r["sm_clock_mhz"],
                    r["throttle_reasons"],
                    r["mem_used_mib"],
                ]
            )
    peak = max(int(r["power_instant_mw"]) for r in rows) / 1000
    record = _record(run_id, spec, windows, {"file": "timeseries.csv", "samples": len(rows), "peak_power_w": peak})
    (d / "result.json").write_text(json.dumps(record))
    return d

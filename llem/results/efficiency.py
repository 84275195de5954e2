"""The result's `roofline` record: MFU of prefill and MBU of decode beside J/token, per window
and averaged, or null with the reason it cannot be computed (llem/results/roofline.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from llem.models.config_json import model_config
from llem.results.measured import Measured
from llem.results.peaks import Peak, peak_for
from llem.results.roofline import Shape, precision_of, utilisation, window_work
from llem.stats import summarize


def _unavailable(reason: str) -> dict:
    return {"mfu_prefill": None, "mbu_decode": None, "reason": reason}


def _gpu_name(spec, environment: dict) -> Optional[str]:
    names = [g.get("name") for g in environment.get("gpus") or [] if g.get("name")]
    return names[0] if names else spec.hardware.gpu_name


def _scaled(peak: Peak, n_gpus: int) -> Peak:
    if n_gpus <= 1:
        return peak
    return replace(peak, name=f"{n_gpus} x {peak.name}", bf16_flop_s=peak.bf16_flop_s * n_gpus,
                   fp8_flop_s=None if peak.fp8_flop_s is None else peak.fp8_flop_s * n_gpus,
                   memory_b_s=peak.memory_b_s * n_gpus)


def _prefill_s(window: dict) -> Optional[float]:
    """The window's prefill time where every engine call reported its time to first token."""
    ttft = window.get("batch_ttft_s") or []
    if not ttft or len(ttft) != len(window.get("batch_latency_s") or []) or any(t is None for t in ttft):
        return None
    return float(sum(ttft))  # offline engine calls run one after another


def roofline_record(spec, measured: Measured, environment: dict) -> dict:
    if spec.workload.mode == "server":
        return _unavailable("server mode: continuous batching overlaps prefill and decode of different requests")
    if measured.device != "cuda":
        return _unavailable("the job ran on CPU: llem has no datasheet peaks for CPUs")
    name = _gpu_name(spec, environment)
    peak = peak_for(name)
    if peak is None:
        return _unavailable(f"no datasheet peaks for GPU {name!r} (llem/results/peaks.py)")
    cfg, why = model_config(spec.model)
    if cfg is None:
        return _unavailable(f"the model's shape is unknown: {why}")
    try:
        shape = Shape.from_config(cfg)
    except (KeyError, TypeError, ValueError) as exc:
        return _unavailable(f"config.json lacks a Llama-family field ({exc})")
    gguf = spec.model.gguf_type or ("f16" if spec.backend_name == "llamacpp" else None)
    precision = precision_of(measured.engine.get("effective_settings") or {}, gguf)
    if precision.weight_bytes is None or precision.kv_bytes is None:
        return _unavailable(f"bytes per weight or cache element unknown ({precision.note})")
    peak = _scaled(peak, max(1, len(measured.gpus)))
    phase_prefill = ((measured.phases or {}).get("prefill_s_per_pass") or {}).get("mean")
    windows = [_window(shape, precision, peak, w, measured.requests["input_tokens"], spec.workload.output_tokens,
                       phase_prefill) for w in measured.windows]
    return {
        "mfu_prefill": _mean([w["mfu_prefill"] for w in windows]),
        "mbu_decode": _mean([w["mbu_decode"] for w in windows]),
        "mbu_decode_bound": windows[0]["mbu_decode_bound"] if windows else None,
        "reason": windows[0]["reason"] if windows else "no windows",
        "peak": dict(peak.to_dict(), compute=precision.compute, figures="datasheet (dense, no sparsity)"),
        "precision": precision.note,
        "shape": vars(shape),
        "windows": windows,
    }


def _mean(values: list) -> Optional[float]:
    stats = summarize(values)
    return None if stats is None else stats["mean"]


def _window(shape: Shape, precision, peak: Peak, w: dict, input_tokens: list[int], output_tokens: int,
            phase_prefill_s: Optional[float]) -> dict:
    """One window's utilisation, per pass over the workload (a window may hold several)."""
    passes = w.get("passes", 1)
    calls = len(w.get("batch_latency_s") or []) or 1
    batch = max(1, round(w["requests"] / calls))  # requests per engine call, as this window ran them
    work = window_work(shape, input_tokens, output_tokens, batch, precision.weight_bytes, precision.kv_bytes)
    prefill = _prefill_s(w)
    prefill = prefill / passes if prefill is not None else phase_prefill_s
    out = utilisation(work, w["duration_s"] / passes, prefill, peak, precision)
    if prefill is not None and prefill == phase_prefill_s:
        out["prefill_s_source"] = "run.phases: mean prefill-only pass"
    return dict(out, batch=batch)

"""The result's `roofline` record: MFU of prefill and MBU of decode beside J/token, per window
and averaged, or null with the reason it cannot be computed (llem/results/roofline.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from llem.models.config_json import model_config
from llem.results.measured import Measured
from llem.results.peaks import Peak, peak_for
from llem.results.roofline import Shape, precision_of, utilisation, window_work
from llem.results.stats import summarize


def _unavailable(reason: str) -> dict:
    return {"mfu_prefill": None, "mbu_decode": None, "reason": reason}


def _gpu_name(spec, environment: dict) -> Optional[str]:
    names = [g.get("name") for g in environment.get("gpus") or [] if g.get("name")]
    return names[0] if names else spec.hardware.gpu_name


def _scaled(peak: Peak, n_gpus: int) -> Peak:
    if n_gpus <= 1:
        return peak
    return replace(
        peak,
        name=f"{n_gpus} x {peak.name}",
        bf16_flop_s=peak.bf16_flop_s * n_gpus,
        fp8_flop_s=None if peak.fp8_flop_s is None else peak.fp8_flop_s * n_gpus,
        memory_b_s=peak.memory_b_s * n_gpus,
    )


def _call_sizes(w: dict, prompts: int) -> tuple[Optional[list[int]], Optional[str]]:
    """One pass's engine calls, as requests per call, from the window's per-call records."""
    sizes = w.get("batch_requests")
    if not sizes:
        return None, "the window has no per-call batch record (batch_requests): the batch the engine ran is unknown"
    passes = max(1, int(w.get("passes", 1)))
    per_pass = len(sizes) // passes
    first = list(sizes[:per_pass])
    if len(sizes) % passes or sum(first) != prompts:
        return None, (
            f"the window's {len(sizes)} engine calls ({sum(sizes)} requests) are not {passes} passes "
            f"over the {prompts} prompts: the batch the engine ran is unknown"
        )
    return first, None


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
    precision = precision_of(measured.engine.get("effective_settings") or {}, cfg.get("torch_dtype") or cfg.get("dtype"))
    if precision.weight_bytes is None or precision.kv_bytes is None:
        return _unavailable(f"bytes per weight or cache element unknown ({precision.note})")
    peak = _scaled(peak, max(1, len(measured.gpus)))
    phase_prefill = ((measured.phases or {}).get("prefill_s_per_pass") or {}).get("mean")
    running = (measured.engine.get("effective_settings") or {}).get("batch_size")  # most sequences at once
    windows = [
        _window(shape, precision, peak, w, measured.requests["input_tokens"], spec.workload.output_tokens, phase_prefill, running)
        for w in measured.windows
    ]
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


def running_groups(calls: list[int], running: object) -> list[int]:
    """The groups that decode together: each engine call's requests in groups of at most `running`, the
    most sequences the engine runs at once (its effective batch_size: vLLM's max_num_seqs, SGLang's
    max_running_requests). vLLM at batch 1 takes all 64 prompts in one call and decodes them one at a
    time: 64 groups of 1, not one of 64 (which read the weights 64x too rarely; docs/efficiency.md). Exact for equal lengths, which run in lockstep; an approximation for mixed lengths."""
    if not isinstance(running, int) or isinstance(running, bool) or running < 1 or max(calls) <= running:
        return list(calls)
    return [size for call in calls for size in [running] * (call // running) + ([call % running] if call % running else [])]


def _window(
    shape: Shape,
    precision,
    peak: Peak,
    w: dict,
    input_tokens: list[int],
    output_tokens: int,
    phase_prefill_s: Optional[float],
    running: object = None,
) -> dict:
    """One window's utilisation, per pass over the workload (a window may hold several). The prefill time
    is run.phases' mean prefill-only pass for every engine (llem/results/roofline.py)."""
    passes = w.get("passes", 1)
    calls, why = _call_sizes(w, len(input_tokens))
    if calls is None:
        return {"mfu_prefill": None, "mbu_decode": None, "mbu_decode_bound": None, "reason": why, "batch": None}
    sizes = running_groups(calls, running)
    work = window_work(shape, input_tokens, output_tokens, sizes, precision.weight_bytes, precision.kv_bytes)
    out = utilisation(work, w["duration_s"] / passes, phase_prefill_s, peak, precision)
    if phase_prefill_s is not None:
        out["prefill_s_source"] = "run.phases: mean prefill-only pass"
    if sizes != calls:
        out["batch_note"] = (
            f"engine calls of {max(calls)} requests decoded at most {running} sequence{'s' * (running != 1)} at once "
            f"(the engine's effective batch_size): counted as {len(sizes)} groups"
        )
    return dict(out, batch=max(sizes), calls=calls)

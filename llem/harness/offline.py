"""The offline measurement protocol: load (or reuse) the engine, build requests, warm up at full
length, idle baseline with the model loaded, N measured windows (cooldown before each),
statistics. Engine-agnostic: the engine is a Backend (llem/backends/base.py)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Optional

from llem.energy.baseline import close_baseline
from llem.config.grouping import engine_hardware
from llem.harness.steps import JobContext, idle_baseline, measure_windows, warm_up, window_count, window_flags
from llem.registry import backend_class
from llem.harness.repeat import window_target_s
from llem.results.measured import Measured
from llem.results.metrics import latency_summary, summarize_windows, window_metrics
from llem.results.outputs import outputs_flags, outputs_record
from llem.results.phases import phase_split
from llem.results.speculative import SpecReadout, delta, readout_for as speculative_readout, summary as speculative_summary
from llem.results.speculative import window_record as speculative_window
from llem.harness.warm import peak_rss_mib, reset_peak_rss
from llem.workload.fingerprint import token_ids_sha256
from llem.workload.prefix_cache import offline_hits, summary as prefix_summary
from llem.workload.prompts import build_requests, dataset_record
from llem.workload.structured import (
    grammar_phase,
    read_schema,
    structured,
    summary as structured_summary,
    support_for,
    timed,
    validator,
)
from llem.workload.structured import window_record as structured_window


def measure_offline(ctx: JobContext) -> Measured:
    """Run the offline protocol for one job in the engine's own process."""
    spec = ctx.spec
    cls = backend_class(spec.backend_name)
    backend, engine_load = ctx.warm.acquire(offline_key(spec, cls), spec.run_id(), lambda: _load(ctx, cls))
    peak_note = _rebind(ctx, backend, engine_load) if engine_load["reused"] else None
    mapping_flags = ctx.meter.check_devices(backend.cuda_uuids())  # CUDA has started: the metered GPU is the computing one
    requests = build_requests(spec.workload, backend.encode, backend.vocab_size, backend.special_ids(), spec.model)
    check = validator(read_schema(spec.workload.schema_path)) if structured(spec) else None
    grammar = _grammar_phase(ctx, backend, requests) if check is not None else None
    warm_up(ctx, lambda _i: backend.warmup(requests))
    baseline = idle_baseline(ctx.meter, backend.synchronize, spec.energy, ctx.progress)
    target_s = window_target_s(spec.run, ctx.meter)
    speculative = speculative_readout(spec)  # None: no speculative decoding configured
    measured = measure_windows(
        ctx,
        lambda r: _window(ctx, backend, requests, baseline, r, target_s, check=check, speculative=speculative),
        lambda r: (
            f"measuring window {r + 1}/{window_count(spec.run)}" + (f" (>= {target_s:.1f} s of passes)" if target_s else "")
        ),
        baseline.get("power_w"),
    )
    windows = measured.records
    measured.flags += close_baseline(ctx.meter, backend.synchronize, spec.energy, baseline, ctx.progress)  # drift
    phases = _phases(ctx, backend, requests, baseline, target_s, windows) if spec.run.phases else None
    outputs = outputs_record([r.id for r in requests], measured.kept, spec.workload.sampling.temperature == 0)
    prefix_cache, prefix_flags = prefix_summary(spec, [w.get("prefix_cache_hits") for w in windows])
    engine = backend.describe()
    block, structured_flags = (
        (None, [])
        if check is None
        else structured_summary(spec, windows, support_for(spec), grammar, engine.get("structured_outputs"))
    )
    lengths = structured_flags if check is not None else _length_flags(windows, spec.workload.output_tokens)  # json: the model's
    spec_block, spec_flags = speculative_summary(speculative, [w.get("speculative") for w in windows], "each measured window")
    flags = mapping_flags + measured.flags + lengths + outputs_flags(outputs) + prefix_flags + spec_flags
    memory = dict(backend.memory(), peak_rss_mib=peak_rss_mib())
    if peak_note:
        memory["peak_rss_note"] = peak_note
    return Measured(
        device=ctx.device,
        gpus=ctx.gpus,
        engine=engine,
        meter=ctx.meter.describe(),
        baseline=baseline,
        windows=windows,
        statistics=summarize_windows(windows),
        latency=latency_summary(windows),
        memory=memory,
        requests={
            "count": len(requests),
            "input_tokens": [len(r.input_ids) for r in requests],
            "prompt_token_ids_sha256": token_ids_sha256(requests),
            **dataset_record(spec),
        },
        flags=flags,
        timeseries=measured.timeseries,
        repeatability=measured.repeatability,
        outputs=outputs,
        phases=phases,
        load_s=None if engine_load["reused"] else engine_load["load_s"],  # this job's own loading time
        engine_load=engine_load,
        prefix_cache=prefix_cache,
        structured=block,
        speculative=spec_block,
    )


def offline_key(spec, cls) -> dict:
    """What a loaded engine must have been loaded for to measure this job (llem/harness/warm.py)."""
    return {
        "backend": spec.backend,
        "model": spec.model.model_dump(mode="json"),
        "hardware": engine_hardware(spec.hardware.model_dump(mode="json")),
        "load": cls.load_key(spec),
    }


def _load(ctx: JobContext, cls):
    spec = ctx.spec
    ctx.progress(f"loading {spec.model.name} on {spec.backend_name} ({ctx.device})")
    backend = cls(spec, ctx.device, ctx.gpus)
    try:
        backend.load()
    except BaseException:
        backend.close()
        raise
    return backend


def _rebind(ctx: JobContext, backend, engine_load: dict) -> Optional[str]:
    """An engine an earlier job loaded serves this one: new sampling state, peaks restarted."""
    ctx.progress(f"engine already loaded (for {engine_load['loaded_for']} in {engine_load['load_s']:.1f} s): not reloading")
    backend.rebind(ctx.spec)
    backend.reset_peaks()
    if not reset_peak_rss():
        return "peak_rss_mib includes earlier jobs on this engine (the kernel's peak counter could not be reset)"
    return None


def _phases(ctx: JobContext, backend, requests, baseline: dict, target_s: Optional[float], full: list[dict]) -> dict:
    """run.phases: prefill-only windows (the same prompts, one output token) after the full ones."""
    spec = ctx.spec
    prefill = spec.model_copy(update={"workload": spec.workload.model_copy(update={"output_tokens": 1})})
    backend.rebind(prefill)

    def measured(reqs, label: str, note: str) -> list[dict]:  # a warmup, then as many windows as the full run had
        ctx.progress(f"prefill-only warmup{note}")
        backend.warmup(reqs)
        out = []
        for r in range(len(full)):
            ctx.progress(f"measuring prefill-only window {r + 1}/{len(full)}{note}")
            out.append(_window(ctx, backend, reqs, baseline, r, target_s, label)[0])
        return out

    try:
        windows = measured(requests, "prefill", " (1 output token)")
        # the same prompts cut to half, the same calls: the fixed per-call part of prefill apart from the per-token one
        short = [replace(q, prompt=None, input_ids=q.input_ids[: max(1, len(q.input_ids) // 2)]) for q in requests]
        halves = measured(short, "prefill-short", " at half the prompt length")
    finally:
        backend.rebind(spec)
    return phase_split(full, windows, len(requests), halves)


def _grammar_phase(ctx: JobContext, backend, requests) -> dict:
    """workload.response_format=json_schema: the grammar's compile time, before warm-up and outside the windows
    (llem/workload/structured.py grammar_phase), on the first prompt with 1-token outputs."""
    spec = ctx.spec
    first = requests[:1]

    def one(constrained: bool) -> float:
        update = {"output_tokens": 1} if constrained else {"output_tokens": 1, "response_format": "text", "schema_path": None}
        backend.rebind(spec.model_copy(update={"workload": spec.workload.model_copy(update=update)}))
        backend.synchronize()
        return timed(lambda: (backend.generate(first), backend.synchronize()))

    try:
        return grammar_phase(one, ctx.progress)
    finally:
        backend.rebind(spec)


def _window(
    ctx: JobContext,
    backend,
    requests,
    baseline: dict,
    r: int,
    target_s: Optional[float],
    kind: str = "window",
    check=None,
    speculative: Optional[SpecReadout] = None,
) -> tuple[dict, list[str], Optional[list[list[int]]]]:
    """One measured window: synchronize, meter.begin, passes over the requests (one, or as many as
    make the window last target_s), synchronize, meter.end. Every pass's tokens and latencies count.
    `check`: the schema's validator (structured output), applied to every pass's outputs after meter.end.
    With speculative decoding configured, the engine's counts are read right outside the window's edges."""
    spec, meter = ctx.spec, ctx.meter
    name = f"{kind}-{r}"
    backend.synchronize()
    counts_before = backend.speculative_counts() if speculative else None
    started = time.time()
    meter.begin(name)
    t0 = time.perf_counter()
    gens = []
    while True:
        gens.append(backend.generate(requests))
        if target_s is None:
            break
        backend.synchronize()
        if time.perf_counter() - t0 >= target_s:
            break
    backend.synchronize()
    wall = time.perf_counter() - t0
    m = meter.end(name)
    counts_after = backend.speculative_counts() if speculative else None
    batches = [b for g in gens for b in g.batches]
    w = window_metrics(
        wall,
        len(requests) * len(gens),
        sum(g.total_input_tokens for g in gens),
        sum(g.total_output_tokens for g in gens),
        m.total_j,
        baseline.get("power_w"),
        spec.energy.grid_intensity_g_per_kwh,
    )
    w.update(
        index=r,
        started_unix_s=started,
        passes=len(gens),
        batch_requests=[b.requests for b in batches],
        batch_latency_s=[b.latency_s for b in batches],
        batch_ttft_s=[b.ttft_s for b in batches],
        energy=m.to_dict(),
        prefix_cache_hits=offline_hits(spec, gens),
    )
    if check is not None:  # after meter.end: decoding and validating are not the engine's work
        w["structured"] = _structured_window(backend, requests, gens, check, w)
    if speculative is not None:
        w["speculative"] = speculative_window(
            delta(counts_before, counts_after),
            w["output_tokens"],
            m.total_j,
            speculative.offline_reason,
            speculative.offline_source,
        )
    return w, [f"window {r}: {f}" for f in window_flags(m, spec.energy)], gens[0].output_ids


def _structured_window(backend, requests, gens, check, w: dict) -> dict:
    ids = [f"{q.id}#{p}" for p in range(len(gens)) for q in requests]
    tokens = [n for g in gens for n in g.output_tokens]
    cap = backend.spec.workload.output_tokens
    if any(g.output_ids is None for g in gens):
        return structured_window(
            check,
            [],
            tokens,
            cap,
            w["energy_j"],
            w["dynamic_energy_j"],
            ids,
            reason="the engine handed over no output token ids to validate",
        )
    texts = [backend.decode(list(x)) for g in gens for x in g.output_ids]
    return structured_window(check, texts, tokens, cap, w["energy_j"], w["dynamic_energy_j"], ids)


def _length_flags(windows: list[dict], per_request: int) -> list[str]:
    flags = []
    for w in windows:
        expected = per_request * w["requests"]
        if w["output_tokens"] != expected:
            flags.append(
                f"window {w['index']}: output_tokens {w['output_tokens']} != {expected} requested (fixed length not honoured)"
            )
    return flags

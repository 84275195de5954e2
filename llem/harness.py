"""The offline measurement protocol: load (or reuse) the engine, build requests, warm up at full
length, idle baseline with the model loaded, N measured windows (cooldown before each),
statistics. Engine-agnostic: the engine is a Backend (llem/backends/base.py)."""

from __future__ import annotations

import time
from typing import Optional

from llem.grouping import engine_hardware
from llem.protocol import JobContext, idle_baseline, measure_windows, window_flags
from llem.registry import backend_class
from llem.results.measured import Measured
from llem.results.metrics import latency_summary, summarize_windows, window_metrics
from llem.warm import peak_rss_mib, reset_peak_rss
from llem.workload.prompts import build_requests


def measure_offline(ctx: JobContext) -> Measured:
    """Run the offline protocol for one job in the engine's own process."""
    spec = ctx.spec
    cls = backend_class(spec.backend_name)
    backend, engine_load = ctx.warm.acquire(offline_key(spec, cls), spec.run_id(), lambda: _load(ctx, cls))
    peak_note = _rebind(ctx, backend, engine_load) if engine_load["reused"] else None
    requests = build_requests(spec.workload, backend.encode, backend.vocab_size, backend.special_ids())
    for i in range(spec.run.warmup):
        ctx.progress(f"warmup {i + 1}/{spec.run.warmup}")
        backend.warmup(requests)
    baseline = idle_baseline(ctx.meter, backend.synchronize, spec.energy.baseline_s, ctx.progress)
    measured = measure_windows(ctx, lambda r: _window(ctx, backend, requests, baseline, r),
                               lambda r: f"measuring window {r + 1}/{spec.run.repeats}")
    windows = measured.records
    flags = measured.flags + _length_flags(windows, spec.workload.output_tokens * len(requests))
    memory = dict(backend.memory(), peak_rss_mib=peak_rss_mib())
    if peak_note:
        memory["peak_rss_note"] = peak_note
    return Measured(
        device=ctx.device,
        gpus=ctx.gpus,
        engine=backend.describe(),
        meter=ctx.meter.describe(),
        baseline=baseline,
        windows=windows,
        statistics=summarize_windows(windows),
        latency=latency_summary(windows),
        memory=memory,
        requests={"count": len(requests), "input_tokens": [len(r.input_ids) for r in requests]},
        flags=flags,
        timeseries=measured.timeseries,
        load_s=None if engine_load["reused"] else engine_load["load_s"],  # this job's own loading time
        engine_load=engine_load,
    )


def offline_key(spec, cls) -> dict:
    """What a loaded engine must have been loaded for to measure this job (llem/warm.py)."""
    return {"backend": spec.backend, "model": spec.model.model_dump(mode="json"),
            "hardware": engine_hardware(spec.hardware.model_dump(mode="json")), "load": cls.load_key(spec)}


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


def _window(ctx: JobContext, backend, requests, baseline: dict, r: int) -> tuple[dict, list[str], None]:
    """One measured window: synchronize, meter.begin, generate, synchronize, meter.end."""
    spec, meter = ctx.spec, ctx.meter
    name = f"window-{r}"
    backend.synchronize()
    started = time.time()
    meter.begin(name)
    t0 = time.perf_counter()
    gen = backend.generate(requests)
    backend.synchronize()
    wall = time.perf_counter() - t0
    m = meter.end(name)
    w = window_metrics(wall, len(requests), gen.total_input_tokens, gen.total_output_tokens,
                       m.total_j, baseline.get("power_w"), spec.energy.grid_intensity_g_per_kwh)
    w.update(index=r, started_unix_s=started, batch_latency_s=[b.latency_s for b in gen.batches],
             batch_ttft_s=[b.ttft_s for b in gen.batches], energy=m.to_dict())
    return w, [f"window {r}: {f}" for f in window_flags(m, spec.energy)], None


def _length_flags(windows: list[dict], expected: int) -> list[str]:
    return [f"window {w['index']}: output_tokens {w['output_tokens']} != {expected} requested (fixed length not honoured)"
            for w in windows if w["output_tokens"] != expected]

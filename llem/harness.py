"""The measurement protocol: load, build requests, warm up at full length, idle baseline with the
model loaded, N measured windows (cooldown before each), statistics. Engine-agnostic."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from llem.results.metrics import latency_summary, summarize_windows, window_metrics

Progress = Callable[[str], None]


def idle_baseline(meter, backend, seconds: float, progress: Progress) -> dict:
    """Idle power with the model resident, measured right before the windows."""
    if not meter.measures:
        return {"power_w": None, "reason": "the energy meter measures nothing on this machine"}
    if seconds <= 0:
        return {"power_w": None, "reason": "energy.baseline_s=0: no idle baseline taken"}
    progress(f"idle baseline ({seconds:g} s, model loaded)")
    backend.synchronize()
    meter.begin("baseline")
    time.sleep(seconds)
    m = meter.end("baseline")
    if m.total_j is None:
        return {"power_w": None, "reason": m.reason, "measurement": m.to_dict()}
    per_device = {k: (None if v is None else v / m.duration_s) for k, v in m.energy_j.items()}
    return {"duration_s": m.duration_s, "power_w": m.total_j / m.duration_s,
            "power_w_per_device": per_device, "measurement": m.to_dict()}


def window_flags(m, energy_spec) -> list[str]:
    flags = []
    if m.update_period_s and m.total_j is not None:
        updates = m.duration_s / m.update_period_s
        if updates < energy_spec.min_window_updates:
            bound = 2 * m.update_period_s / m.duration_s
            flags.append(
                f"short_window: {m.duration_s:.2f} s is {updates:.1f} counter updates "
                f"(< {energy_spec.min_window_updates}); quantisation error up to ~{bound:.1%}: "
                f"give the window more work (more prompts or output tokens) so it lasts "
                f">= {energy_spec.min_window_updates * m.update_period_s:.1f} s"
            )
    return flags


def measure(spec, run_dir: Path, progress: Optional[Progress] = None, warm=None) -> dict:
    """Run the protocol for one JobSpec; returns the plain measured part of the result.

    `warm` (llem/warm.py) lets a worker keep the loaded engine for the next job of a sweep; without
    it the engine is loaded for this job and released at its end."""
    from llem.checks import device_for_job
    from llem.energy import create_meter, start_sampler
    from llem.registry import backend_class, backend_info
    from llem.warm import WarmEngines, peak_rss_mib, reset_peak_rss
    from llem.workload.fingerprint import output_ids_sha256, token_ids_sha256
    from llem.workload.prompts import build_requests

    if spec.workload.mode == "server":  # the engine's own server under load: llem/serving
        from llem.serving.harness import measure_server

        return measure_server(spec, run_dir, progress, warm)
    progress = progress or (lambda _msg: None)
    device = device_for_job(spec, backend_info(spec.backend_name))
    gpus = list(range(spec.hardware.gpu_count)) if device == "cuda" else []
    cls = backend_class(spec.backend_name)
    own = warm is None
    warm = warm if warm is not None else WarmEngines()

    def load():
        progress(f"loading {spec.model.name} on {spec.backend_name} ({device})")
        backend = cls(spec, device, gpus)
        try:
            backend.load()
        except BaseException:
            backend.close()
            raise
        return backend

    meter = create_meter(spec.energy, device, gpus)  # before the model: a missing sensor fails fast
    try:
        backend, engine_load = warm.acquire(offline_key(spec, cls), spec.run_id(), load)
        peak_note = None
        if engine_load["reused"]:
            progress(f"engine already loaded (for {engine_load['loaded_for']} in {engine_load['load_s']:.1f} s): not reloading")
            backend.rebind(spec)
            backend.reset_peaks()
            if not reset_peak_rss():
                peak_note = "peak_rss_mib includes earlier jobs on this engine (the kernel's peak counter could not be reset)"
        requests = build_requests(spec.workload, backend.encode, backend.vocab_size, backend.special_ids())
        for i in range(spec.run.warmup):
            progress(f"warmup {i + 1}/{spec.run.warmup}")
            backend.warmup(requests)
        baseline = idle_baseline(meter, backend, spec.energy.baseline_s, progress)
        sampler = start_sampler(spec.energy, device, gpus, run_dir) if spec.energy.sampler else None
        windows, flags = [], []
        try:
            for r in range(spec.run.repeats):
                if spec.run.cooldown_s:
                    time.sleep(spec.run.cooldown_s)
                progress(f"measuring window {r + 1}/{spec.run.repeats}")
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
                         batch_ttft_s=[b.ttft_s for b in gen.batches], energy=m.to_dict(),
                         output_ids_sha256=output_ids_sha256(gen.output_ids))
                windows.append(w)
                flags += [f"window {r}: {f}" for f in window_flags(m, spec.energy)]
        finally:
            timeseries = sampler.stop() if sampler is not None else None
        expected = spec.workload.output_tokens * len(requests)
        for w in windows:
            if w["output_tokens"] != expected:
                flags.append(f"window {w['index']}: output_tokens {w['output_tokens']} != {expected} requested (fixed length not honoured)")
        described = backend.describe()
        memory = dict(backend.memory(), peak_rss_mib=peak_rss_mib())
        if peak_note:
            memory["peak_rss_note"] = peak_note
        return {
            "device": device,
            "gpus": gpus,
            "load_s": None if engine_load["reused"] else engine_load["load_s"],  # this job's own loading time
            "engine_load": engine_load,
            "engine": described,
            "meter": meter.describe(),
            "baseline": baseline,
            "windows": windows,
            "statistics": summarize_windows(windows),
            "latency": latency_summary(windows),
            "memory": memory,
            "timeseries": timeseries,
            "flags": flags,
            "requests": {"count": len(requests), "input_tokens": [len(r.input_ids) for r in requests],
                         "prompt_token_ids_sha256": token_ids_sha256(requests)},
        }
    finally:
        meter.close()
        if own:
            warm.close()


def offline_key(spec, cls) -> dict:
    """What a loaded engine must have been loaded for to measure this job (llem/warm.py)."""
    return {"backend": spec.backend, "model": spec.model.model_dump(mode="json"),
            "hardware": spec.hardware.model_dump(mode="json"), "load": cls.load_key(spec)}

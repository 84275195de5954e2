"""What the offline and the server harness share: the job's context (device, GPUs, meter, the
worker's warm engine, progress), the idle baseline, per-window flags, and the loop of measured
windows with the power/temperature sampler around it. Engine-agnostic; neither harness imports
the other."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from llem.checks import device_for_job
from llem.energy import create_meter, metered_gpus, start_sampler
from llem.energy.gpu_settings import applied
from llem.registry import backend_info
from llem.warm import WarmEngines

Progress = Callable[[str], None]


@dataclass
class JobContext:
    """Everything a harness needs for one job, set up once above both harnesses."""

    spec: object  # the JobSpec, built once per job
    run_dir: Path
    device: str  # "cpu" | "cuda", resolved where the job runs
    gpus: list[int]  # logical CUDA indices the job meters
    meter: object  # llem.energy.Meter, created before the engine loads (a missing sensor fails fast)
    warm: WarmEngines  # what the worker keeps loaded between jobs of one engine configuration
    progress: Progress
    gpu_settings: Optional[dict] = None  # power limit / locked clocks applied for this job, and their restore


@contextmanager
def job_context(spec, run_dir: Path, progress: Optional[Progress] = None,
                warm: Optional[WarmEngines] = None) -> Iterator[JobContext]:
    """Resolve the device, create the meter, hold the warm engines; close what this job owns.

    Without `warm` the engine is loaded for this job and released at its end."""
    device = device_for_job(spec, backend_info(spec.backend_name))
    gpus = list(range(spec.hardware.gpu_count)) if device == "cuda" else []
    own = warm is None
    held = WarmEngines() if own else warm
    meter = create_meter(spec.energy, device, gpus)
    try:
        with applied(spec.hardware, metered_gpus(device, gpus)[1]) as settings:  # restored when the job ends, however it ends
            yield JobContext(spec, Path(run_dir), device, gpus, meter, held, progress or (lambda _msg: None), settings)
    finally:
        meter.close()
        if own:
            held.close()


def idle_baseline(meter, synchronize: Callable[[], None], seconds: float, progress: Progress) -> dict:
    """Idle power with the model resident, measured right before the windows.

    `synchronize` waits for the device work this job queued (a no-op where a server owns the device)."""
    if not meter.measures:
        return {"power_w": None, "reason": "the energy meter measures nothing on this machine"}
    if seconds <= 0:
        return {"power_w": None, "reason": "energy.baseline_s=0: no idle baseline taken"}
    progress(f"idle baseline ({seconds:g} s, model loaded)")
    synchronize()
    meter.begin("baseline")
    time.sleep(seconds)
    m = meter.end("baseline")
    if m.total_j is None:
        return {"power_w": None, "reason": m.reason, "measurement": m.to_dict()}
    per_device = {k: (None if v is None else v / m.duration_s) for k, v in m.energy_j.items()}
    return {"duration_s": m.duration_s, "power_w": m.total_j / m.duration_s,
            "power_w_per_device": per_device, "measurement": m.to_dict()}


def window_flags(m, energy_spec) -> list[str]:
    """Flags of one measured window's energy reading (a Measurement)."""
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


# One measured window: its index in, (the window's record, its flags, anything the harness keeps) out.
OneWindow = Callable[[int], tuple[dict, list[str], object]]


@dataclass
class Windows:
    records: list[dict]
    flags: list[str]
    kept: list  # per window, what OneWindow returned third (e.g. the server run's request records)
    timeseries: Optional[dict]  # the sampler's summary, None without a sampler


def measure_windows(ctx: JobContext, one: OneWindow, label: Callable[[int], str]) -> Windows:
    """run.repeats windows (cooldown before each) with the sampler running around all of them."""
    spec = ctx.spec
    sampler = start_sampler(spec.energy, ctx.device, ctx.gpus, ctx.run_dir) if spec.energy.sampler else None
    out = Windows([], [], [], None)
    try:
        for r in range(spec.run.repeats):
            if spec.run.cooldown_s:
                time.sleep(spec.run.cooldown_s)
            ctx.progress(label(r))
            record, flags, kept = one(r)
            out.records.append(record)
            out.flags += flags
            out.kept.append(kept)
    finally:
        out.timeseries = sampler.stop() if sampler is not None else None
    return out

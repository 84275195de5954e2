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

from llem.config.checks import device_for_job
from llem.energy import create_meter, metered_gpus, start_sampler
from llem.energy.baseline import take_baseline
from llem.energy.devices import engine_gpus
from llem.energy.window_checks import annotate_conditions, energy_window_flags
from llem.energy.gpu_settings import applied
from llem.energy.host_load import HostLoad, host_flags
from llem.host.interrupt import note_window
from llem.registry import backend_info
from llem.harness.repeat import ci_pct, cool_down, flags as repeat_flags, keep_going, metric_of, outcome
from llem.results.scope_guard import refuse_mixed_scope
from llem.harness.warm import WarmEngines

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
def job_context(
    spec, run_dir: Path, progress: Optional[Progress] = None, warm: Optional[WarmEngines] = None
) -> Iterator[JobContext]:
    """Resolve the device, create the meter, hold the warm engines; close what this job owns.

    Without `warm` the engine is loaded for this job and released at its end."""
    device = device_for_job(spec, backend_info(spec.backend_name))
    gpus = engine_gpus(spec, device)  # tensor x pipeline parallel where the engine says so
    own = warm is None
    held = WarmEngines() if own else warm
    meter = create_meter(spec.energy, device, gpus)
    try:
        refuse_mixed_scope(spec, meter)  # before the engine loads (llem/results/scope_guard.py)
        with applied(spec.hardware, metered_gpus(device, gpus)[1]) as settings:  # restored when the job ends, however it ends
            yield JobContext(spec, Path(run_dir), device, gpus, meter, held, progress or (lambda _msg: None), settings)
    finally:
        meter.close()
        if own:
            held.close()


def idle_baseline(meter, synchronize: Callable[[], None], energy, progress: Progress) -> dict:
    """Idle power with the model resident, right before the windows, by the baseline protocol
    (llem/energy/baseline.py: settle, >= energy.baseline_min_updates counter updates); the meter
    gets it for its aligned end edges. `synchronize` waits for the device work this job queued
    (a no-op where a server owns the device)."""
    return take_baseline(meter, synchronize, energy, progress)


def window_flags(m, energy_spec) -> list[str]:
    """Flags of one measured window's energy reading (a Measurement): short window with its
    residual, what the meter saw (foreign processes)."""
    return energy_window_flags(m, energy_spec)


# One measured window: its index in, (the window's record, its flags, anything the harness keeps) out.
OneWindow = Callable[[int], tuple[dict, list[str], object]]


@dataclass
class Windows:
    records: list[dict]
    flags: list[str]
    kept: list  # per window, what OneWindow returned third (e.g. the server run's request records)
    timeseries: Optional[dict]  # the sampler's summary, None without a sampler
    repeatability: Optional[dict] = None  # windows taken, the interval reached, target met or why not, drift


def warm_up(ctx: JobContext, one_pass: Callable[[int], object]) -> int:
    """run.warmup passes, then more until run.warmup_s has passed; returns how many ran."""
    run = ctx.spec.run
    started, i = time.monotonic(), 0
    while i < run.warmup or (run.warmup_s and time.monotonic() - started < run.warmup_s):
        ctx.progress(
            f"warmup {i + 1}/{run.warmup}"
            if i < run.warmup
            else f"warmup {i + 1} ({time.monotonic() - started:.0f} of run.warmup_s={run.warmup_s:g} s)"
        )
        one_pass(i)
        i += 1
    return i


def window_count(run) -> str:
    """How many windows a job measures: "3", or "3-20" when it adds windows to reach run.target_ci_pct."""
    return f"{run.repeats}-{run.max_repeats}" if run.target_ci_pct is not None else str(run.repeats)


def _so_far(records: list[dict], objective: str) -> str:
    metric = metric_of(objective, records)
    pct = ci_pct([r[metric] for r in records]) if metric and len(records) >= 2 else None
    return f" (95% CI ±{pct:.2f}% of {metric} so far)" if pct is not None else ""


def measure_windows(ctx: JobContext, one: OneWindow, label: Callable[[int], str], baseline_w: Optional[float] = None) -> Windows:
    """Measured windows with the sampler running around them: run.repeats of them, or more until
    run.target_ci_pct is met (llem/harness/repeat.py); a fixed pause and/or a wait for the idle baseline before each."""
    spec = ctx.spec
    run = spec.run
    sampler = start_sampler(spec.energy, ctx.device, ctx.gpus, ctx.run_dir) if spec.energy.sampler else None
    out = Windows([], [], [], None)
    try:
        r = 0
        while keep_going(run, out.records, run.objective):
            if run.cooldown_s:
                time.sleep(run.cooldown_s)
            cooled = cool_down(ctx.meter, baseline_w, run, ctx.progress) if r else None
            ctx.progress(label(r) + _so_far(out.records, run.objective))
            host = HostLoad()
            host.begin()
            record, flags, kept = one(r)
            record["host"] = host.end()  # other processes' CPU time: a host-bound engine slows down
            if cooled is not None:
                record["cooldown"] = cooled
            out.records.append(record)
            note_window(record)  # kept if the run is stopped (llem/host/interrupt.py)
            out.flags += flags
            out.kept.append(kept)
            r += 1
    finally:
        out.timeseries = sampler.stop() if sampler is not None else None
    out.flags += annotate_conditions(out.records, out.timeseries, ctx.run_dir, spec.energy)  # per-window conditions
    out.flags += host_flags(out.records, spec.energy.host_busy_max_cores)
    out.repeatability = outcome(run, out.records, run.objective)
    out.flags += repeat_flags(out.repeatability)
    return out

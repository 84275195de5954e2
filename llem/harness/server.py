"""Server mode's measurement protocol: start (or attach to) the server, warm it up, take the idle
baseline, then per repeat drive the load and read the meter at two windows:

- steady state (ML.ENERGY's method): opens when `workload.concurrency` requests are first in
  flight, closes when the first request of the tail finishes after the last request was sent;
- whole run: first request sent to last request finished.

On a metered GPU a run must be long enough for the counter (run.min_window_s, by default 50 counter
updates, as offline): one unmeasured calibration pass after the warm-up times the load, and each
measured run then sends the prompts that many times over in one continuous load, so that its
steady state lasts at least that long (`passes` in each window).

J per output token comes from the steady state (tokens streamed inside it; llem/serving/metrics.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable, Optional

from llem.paths import SERVER
from llem.energy.baseline import close_baseline
from llem.energy.bracket import Bracket, can_bracket
from llem.harness.repeat import window_target_s
from llem.harness.steps import JobContext, Progress, idle_baseline, measure_windows, warm_up, window_count, window_flags
from llem.results.measured import Measured
from llem.results.metrics import summarize_windows, window_metrics
from llem.serving import metrics as sm
from llem.serving.cache_reset import reset_flags, reset_prefix_cache
from llem.serving.engine_metrics import KEYS, phase_share, scrape
from llem.registry import backend_info, engine_version, load_object
from llem.serving.plan import ServerPlan, plan_for
from llem.serving.requests import build_inputs, describe_prompts
from llem.harness.sessions import run_sessions, sessions_summary
from llem.serving.server_info import ask_server_info
from llem.serving.servers import ServerFailed, free_port, start_server, wait_for_url
from llem.harness.warm import reset_peak_rss
from llem.workload.client import run_load
from llem.workload.fingerprint import token_ids_sha256
from llem.workload.loadgen import ENDPOINTS, LoadSettings, served_model
from llem.workload.prompts import dataset_record
from llem.workload.prefix_cache import counter_delta, read_counters, server_hits, summary as prefix_summary
from llem.results.speculative import (
    delta as speculative_delta,
    readout_for as speculative_readout,
    server_record,
    summary as speculative_summary,
)

from llem.workload.shards import client_processes
from llem.workload.structured import (
    grammar_phase,
    read_schema,
    structured,
    summary as structured_summary,
    support_for,
    validator,
    window_record,
)


def measure_server(ctx: JobContext) -> Measured:
    """Start the server (or attach to workload.server_url), drive the load, read the meter.

    A sweep's worker keeps the server running for its next job whose server command line is the
    same (a concurrency or request-rate sweep); see llem/harness/warm.py."""
    spec = ctx.spec
    w = spec.workload
    if w.server_url:
        url = w.server_url.rstrip("/")
        ctx.progress(f"attaching to the server at {url}")
        wait_for_url(url + "/v1/models", w.ready_timeout_s, f"server at {url}")
        return _measure(ctx, url, None, None)
    server, engine_load = ctx.warm.acquire(
        server_key(spec, ctx.device), spec.run_id(), lambda: _start(spec, ctx.device, ctx.run_dir, ctx.progress)
    )
    if engine_load["reused"]:
        _reuse(server, engine_load, ctx.run_dir, ctx.progress)
    measured = _measure(ctx, server.plan.url, server, None if engine_load["reused"] else engine_load["load_s"])
    measured.engine_load = engine_load
    return measured


def server_key(spec, device: str) -> dict:
    """A running server fits a job whose server command line (port aside) is the same."""
    plan = plan_for(spec, device, 0)
    return {"engine": plan.engine, "argv": plan.argv, "env": plan.env}


def _start(spec, device: str, run_dir: Path, progress: Progress):
    t0 = time.perf_counter()
    plan = plan_for(spec, device, free_port())
    progress(f"starting {plan.engine} for {spec.model.name} on {plan.url}")
    server = start_server(plan, run_dir, spec.workload.ready_timeout_s)
    progress(f"server ready after {time.perf_counter() - t0:.1f} s (pid {server.pid})")
    return server


def _reuse(server, engine_load: dict, run_dir: Path, progress: Progress) -> None:
    """The server an earlier job started serves this one: check it, note it, restart its peak-RSS counter."""
    server.check_alive()
    progress(
        f"{server.plan.engine} already running (pid {server.pid}, started for {engine_load['loaded_for']} "
        f"in {engine_load['load_s']:.1f} s): not restarting"
    )
    reset_peak_rss(server.pid)
    about = dict(server.describe(), log=str(server.log_path), started_for=engine_load["loaded_for"], reused=True)
    (Path(run_dir) / SERVER).write_text(json.dumps(about, indent=2))


def _extra_body(spec, fixed_length: tuple[str, ...], extras: dict, greedy: Optional[dict] = None) -> dict:
    """The fields every request of the job carries beside its prompt and length; `greedy`: the server plan's
    greedy_extras, added when the job samples greedily and is not structured output."""
    w = spec.workload
    if structured(spec):  # an object ends where it ends: no fixed-length field, the engine's schema fields instead
        kept = {
            k: v for k, v in extras.items() if not any(k == f or k.startswith(f + "_") for f in fixed_length)
        }  # logit_bias_type
        body = {"temperature": w.sampling.temperature, **kept, **support_for(spec).server_body(read_schema(w.schema_path))}
        fixed_length = ()
    else:
        body = {"temperature": w.sampling.temperature, **extras}
        if w.sampling.temperature == 0:
            body.update(greedy or {})
    if w.sampling.temperature > 0:
        body["top_p"] = w.sampling.top_p
        if w.sampling.top_k:
            body["top_k"] = w.sampling.top_k
    if "min_tokens" in fixed_length and w.output_lengths == "fixed":  # dataset lengths: each request sets its own
        body["min_tokens"] = w.output_tokens
    if "ignore_eos" in fixed_length:
        body["ignore_eos"] = True
    return body


def _check_run(run, server, what: str) -> list[str]:
    """Raise if the server died or nothing succeeded; flags for partial failures."""
    if server is not None:
        try:
            server.check_alive()
        except ServerFailed as exc:
            raise ServerFailed(f"during the {what}, {exc}") from None
    failed = [o for o in run.outputs if not o.ok]
    if len(failed) == len(run.outputs):
        raise ServerFailed(f"all {len(failed)} requests of the {what} failed; the first: {failed[0].error}")
    return [f"{what}: {len(failed)} of {len(run.outputs)} requests failed (first: {failed[0].error})"] if failed else []


def _passes(ctx: JobContext, url: str, model: str, inputs, load: LoadSettings, server) -> int:
    """How many times over each measured run sends the prompts: 1, or, where windows have a minimum
    length (run.min_window_s, or the counter's 50 updates on a metered GPU), enough that the steady
    state of one continuous load lasts that long, timed by one unmeasured pass of the load."""
    target = window_target_s(ctx.spec.run, ctx.meter)
    if not target:
        return 1
    ctx.progress(f"calibration pass (not measured): {len(inputs)} requests, to reach windows of >= {target:.1f} s")
    run = run_load(url, model, inputs, load)
    _check_run(run, server, "calibration pass")
    return passes_for(target, run.duration_s, _steady_s(run))


def _steady_s(run) -> Optional[float]:
    if run.steady_open_s is None or run.steady_close_s is None:
        return None
    return max(run.steady_close_s - run.steady_open_s, 0.0)


def passes_for(target_s: float, pass_s: float, steady_s: Optional[float], cap: int = 1000) -> int:
    """Passes whose continuous load keeps a steady state of >= target_s: each further pass adds about a
    whole pass of steady load (no ramp-down and ramp-up between passes), the first its own steady part."""
    first = steady_s if steady_s is not None else 0.0
    if first >= target_s or pass_s <= 0:
        return 1
    return min(cap, 1 + math.ceil((target_s - first) / pass_s))


def _inputs_for(spec, server, passes: int):
    """passes x workload.num_prompts requests, as distinct as the prompt source allows (synthetic: fresh
    prompts after the first num_prompts; a file: its next prompts, cycling), so that a prefix cache
    does not serve later passes from the earlier ones."""
    more = spec.model_copy(
        update={"workload": spec.workload.model_copy(update={"num_prompts": spec.workload.num_prompts * passes})}
    )
    return build_inputs(more, server.plan if server is not None else None)


def _repeat_flags(inputs) -> list[str]:
    distinct = len({json.dumps(i.prompt) for i in inputs})
    if distinct == len(inputs):
        return []
    return [
        f"prompts_repeat: each run sends {len(inputs)} prompts of which {distinct} are distinct (the prompt source "
        f"has no more): a server with a prefix cache serves the repeats' prefills from it"
    ]


def _load_settings(spec, server) -> tuple[LoadSettings, tuple[str, ...]]:
    w = spec.workload
    fixed = server.plan.fixed_length if server is not None else ServerPlan.fixed_length
    extras = server.plan.request_extras if server is not None else {}
    greedy = server.plan.greedy_extras if server is not None else {}
    load = LoadSettings(
        concurrency=w.concurrency,
        request_rate=w.request_rate,
        arrival=w.arrival,
        burst_size=w.burst_size,
        seed=w.seed,
        extra_body=_extra_body(spec, fixed, extras, greedy),
        processes=client_processes(w),
        reuse_connections=server.plan.reuse_connections if server is not None else True,
    )
    return load, () if structured(spec) else fixed  # structured output: no fixed-length field was sent


def _warmup(ctx: JobContext, url: str, model: str, inputs, load: LoadSettings, server) -> list[str]:
    w = ctx.spec.workload
    flags: list[str] = []
    if w.num_prompts <= w.concurrency and w.turns == 1:  # sessions have no steady-state window
        flags.append(
            f"workload.num_prompts={w.num_prompts} <= workload.concurrency={w.concurrency}: the steady state "
            f"is only the moment every request is in flight; send several times more requests than the concurrency"
        )
    warm = LoadSettings(concurrency=w.concurrency, extra_body=load.extra_body, reuse_connections=load.reuse_connections)

    def one(i: int) -> None:  # min(concurrency, num_prompts) full-length requests
        flags.extend(_check_run(run_load(url, model, inputs[: w.concurrency], warm), server, f"warmup {i}"))

    warm_up(ctx, one)
    return flags


def _measure(ctx: JobContext, url: str, server, load_s: Optional[float]) -> Measured:
    spec, w = ctx.spec, ctx.spec.workload
    model = served_model(url)
    load, fixed = _load_settings(spec, server)
    inputs = build_inputs(spec, server.plan if server is not None else None)
    check = validator(read_schema(w.schema_path)) if structured(spec) else None
    grammar = _grammar_phase(ctx, url, model, inputs, load, server) if check is not None else None
    flags = _warmup(ctx, url, model, inputs, load, server)
    flags += ctx.meter.check_devices(None)  # a server's CUDA is in its own process: recorded as not checked
    from_log = _read_log(server)  # after the warm-up: the server has long finished loading
    flags += placement_flags(from_log, ctx.device, server.plan.engine if server is not None else "")
    from_info = ask_server_info(server.plan if server is not None else None)  # what the engine resolved
    sessions = w.turns > 1  # multi-turn conversations: llem/harness/sessions.py (one pass, turns in lock step)
    passes = 1 if sessions else _passes(ctx, url, model, inputs, load, server)
    sent = _inputs_for(spec, server, passes) if passes > 1 else inputs
    flags += [] if sessions else _repeat_flags(sent)
    baseline = idle_baseline(ctx.meter, _no_device_work, spec.energy, ctx.progress)
    rate = f", {w.request_rate:g} req/s {w.arrival}" if w.request_rate else " (closed loop)"
    times = f" ({passes} passes)" if passes > 1 else (f" x {w.turns} turns" if sessions else "")
    chat_fields = server.plan.chat_length_fields if server is not None else ServerPlan.chat_length_fields
    one = (
        (lambda r: run_sessions(ctx, url, model, load, chat_fields, server, baseline, r))
        if sessions
        else (lambda r: _one_run(ctx, url, model, sent, load, server, baseline, r, passes, check))
    )
    measured = measure_windows(
        ctx,
        one,
        lambda r: (
            f"measuring run {r + 1}/{window_count(spec.run)}: {len(sent)} requests{times}, concurrency {w.concurrency}{rate}"
        ),
        baseline.get("power_w"),
    )
    flags += close_baseline(ctx.meter, _no_device_work, spec.energy, baseline, ctx.progress)  # drift
    windows = measured.records
    all_outputs = [o for outs in measured.kept for o in outs]
    latency = sm.latency(all_outputs)
    server_rss = _peak_rss_mib(server.pid) if server is not None else None
    prefix_cache, prefix_flags = prefix_summary(spec, [x.get("prefix_cache_hits") for x in windows], "run")
    block, structured_flags = (
        (None, []) if check is None else structured_summary(spec, windows, support_for(spec), grammar, None, "run")
    )
    spec_block, spec_flags = speculative_summary(
        speculative_readout(spec),
        [x.get("speculative") for x in windows],
        SPECULATIVE_BASIS,
        "run",
        "not read in multi-turn sessions (workload.turns > 1)" if sessions else "no run measured",
    )
    return Measured(
        device=ctx.device,
        gpus=ctx.gpus,
        engine=_describe(spec, url, model, server, fixed, from_log, from_info),
        meter=ctx.meter.describe(),
        baseline=baseline,
        windows=windows,
        statistics=summarize_windows(windows),
        latency=latency,
        memory={"server_peak_rss_mib": server_rss} if server_rss is not None else {},
        requests={
            "count": len(inputs),
            "input_tokens": [o.input_tokens for o in all_outputs[: len(inputs)]],
            "prompt_token_ids_sha256": token_ids_sha256(inputs),
            **dataset_record(spec),
        },
        flags=flags + measured.flags + prefix_flags + structured_flags + spec_flags,
        timeseries=measured.timeseries,
        repeatability=measured.repeatability,
        load_s=load_s,
        tokens_counted=TOKENS_COUNTED,
        server=_server_record(spec, url, server, model, load, latency, all_outputs, windows),
        prefix_cache=prefix_cache,
        structured=block,
        speculative=spec_block,
    )


SPECULATIVE_BASIS = (
    "each run's whole-run window (first send to last completion): the engine's counters are read "
    "right before and after the run, so they cover the whole run, not its steady state"
)


def _grammar_phase(ctx: JobContext, url: str, model: str, inputs, load: LoadSettings, server) -> dict:
    """workload.response_format=json_schema: the grammar's compile time on the server, before warm-up and outside
    the windows (llem/workload/structured.py grammar_phase): 1-token requests on the first prompt, one at a time."""
    spec = ctx.spec
    plain = spec.model_copy(
        update={"workload": spec.workload.model_copy(update={"response_format": "text", "schema_path": None})}
    )
    fixed = server.plan.fixed_length if server is not None else ServerPlan.fixed_length
    extras = server.plan.request_extras if server is not None else {}
    bodies = {True: load.extra_body, False: _extra_body(plain, fixed, extras)}
    first = dataclasses.replace(inputs[0], max_tokens=1, keep_text=False)

    def one(constrained: bool) -> float:
        run = run_load(
            url,
            model,
            [first],
            LoadSettings(concurrency=1, extra_body=bodies[constrained], reuse_connections=load.reuse_connections),
        )
        _check_run(run, server, "grammar compile phase")
        return run.duration_s

    return grammar_phase(one, ctx.progress)


TOKENS_COUNTED = (
    "steady-state windows: streamed tokens that arrived inside the window (client count: a chunk's "
    "token_ids where listed, else one per token-bearing chunk); whole run: the server's usage.completion_tokens where sent, else the client count"
)
WINDOWS_RULE = (
    "steady state: opens when workload.concurrency requests are first in flight, closes when the "
    "first request finishes after the last one was sent; on a metered GPU the window is the interval "
    "between the first energy-counter updates after those two edges (steady_state.counted_s), and its "
    "output tokens are streamed tokens that arrived inside it (client clock). whole run: first send to "
    "last completion, all output tokens."
)


def _server_record(spec, url: str, server, model: str, load: LoadSettings, latency: dict, outputs, windows) -> dict:
    w = spec.workload
    return {
        **({"sessions": sessions_summary(windows)} if w.turns > 1 else {}),  # multi-turn: per turn, per conversation
        "url": url,
        "attached": server is None,
        "model": model,
        "load": {
            "concurrency": w.concurrency,
            "request_rate": w.request_rate,
            "arrival": w.arrival if w.request_rate else "closed loop",
            "burst_size": w.burst_size,
            "request_body": load.extra_body,
            "connections": "kept alive between requests"
            if load.reuse_connections
            else "one per request: the server ends each connection after a streamed response",
        },
        "latency": latency,
        "goodput": sm.goodput(outputs, sum(x["whole_run"]["duration_s"] for x in windows), w.slo_ttft_s, w.slo_tpot_s),
        "tokens": sm.token_accounting(outputs),
        "windows_rule": WINDOWS_RULE,
    }


def _steady_window(meter, r: int) -> tuple[Callable[[], None], Callable[[], None], dict]:
    """The load generator's open/close callbacks for the steady-state window of run r: inside its
    event loop, so they never wait; bracketed by the counter's updates where the meter has a known
    period (llem/energy/bracket.py), else read at once."""
    steady: dict = {}
    if can_bracket(meter):
        bracket = steady["bracket"] = Bracket(meter, f"steady-{r}")

        def opened():
            bracket.open()
            steady["open"] = True

        def closed():
            bracket.close()

        return opened, closed, steady

    def opened():
        meter.begin(f"steady-{r}", align=False)
        steady["open"] = True

    def closed():
        steady["m"] = meter.end(f"steady-{r}", align=False)

    return opened, closed, steady


def _close_steady(meter, steady: dict, r: int) -> None:
    """After the load: the steady window's measurement, also when the run stopped between its edges."""
    bracket = steady.get("bracket")
    if bracket is not None:
        if bracket.opened:
            if not bracket.closed:  # interrupted between the edges
                bracket.close()
            steady["m"] = bracket.result()
    elif steady.get("open") and "m" not in steady:
        steady["m"] = meter.end(f"steady-{r}", align=False)


def _counted_interval(run, steady: dict) -> tuple[Optional[float], Optional[float]]:
    """The steady state's interval the tokens and requests are counted over, in seconds from the run's start:
    where bracketed, the counter updates that bound its energy (llem/energy/bracket.py), shifted onto the
    load's clock by the open edge, which both clocks saw at once; else the load's own edges."""
    bracket, m = steady.get("bracket"), steady.get("m")
    if (
        bracket is None
        or m is None
        or m.total_j is None
        or run.steady_open_s is None
        or run.steady_close_s is None
        or not m.interval_monotonic_s
    ):
        return run.steady_open_s, run.steady_close_s
    shift = bracket.t_open - run.steady_open_s  # the run's start on the monotonic clock
    return m.interval_monotonic_s[0] - shift, m.interval_monotonic_s[1] - shift


def _one_run(ctx: JobContext, url, model, inputs, load, server, baseline, r: int, passes: int = 1, check=None):
    """One measured run of the load: the whole-run window with the steady-state window inside it."""
    spec, meter = ctx.spec, ctx.meter
    w, e = spec.workload, spec.energy
    opened, closed, steady = _steady_window(meter, r)
    cache = reset_prefix_cache(url, server.plan if server is not None else None)  # outside the windows
    engine = backend_info(spec.backend_name)
    series, reader = engine.phase_series, load_object(engine.phase_reader) if engine.phase_reader else None
    required = None if reader else KEYS  # an engine's own reader says what its counters lack
    before, why = scrape(
        url, series, spec.backend_name, required=required
    )  # the engine's own prefill/decode counters, outside the windows
    cache_before = read_counters(spec, url)  # the engine's prefix-cache counters, likewise outside
    speculative = speculative_readout(spec)  # None: no speculative decoding configured
    spec_before = _speculative_counters(speculative, url)  # likewise outside
    started = time.time()
    began: dict = {}

    def start():  # the whole-run window opens once the client (all its processes) is ready to send
        meter.begin(f"run-{r}")
        began["unix"] = time.time()

    try:
        run = run_load(url, model, inputs, load, opened, closed, start)
    finally:
        whole_m = meter.end(f"run-{r}") if began else None
        _close_steady(meter, steady, r)
    after, why_after = scrape(url, series, spec.backend_name, required=required) if before is not None else (None, why)
    cache_counters = counter_delta(cache_before, read_counters(spec, url) if cache_before else None)
    spec_counts = speculative_delta(spec_before, _speculative_counters(speculative, url) if spec_before else None)
    flags = _check_run(run, server, f"run {r}") + sm.prompt_token_flags(run.outputs, f"run {r}") + reset_flags(cache, r)
    base_w = baseline.get("power_w")
    whole_n = sm.whole_counts(run)
    whole = window_metrics(
        whole_n["duration_s"],
        whole_n["requests"],
        whole_n["input_tokens"],
        whole_n["output_tokens"],
        whole_m.total_j,
        base_w,
        e.grid_intensity_g_per_kwh,
    )
    whole["energy"] = whole_m.to_dict()
    counted = _counted_interval(run, steady)
    steady_n = sm.steady_counts(run.outputs, *counted)
    if steady_n is None:
        flags.append(
            f"run {r}: steady state not reached (at most {run.max_in_flight} requests in flight, "
            f"workload.concurrency={w.concurrency}); this window is the whole run"
        )
        win = dict(whole)
    else:
        m = steady["m"]
        win = window_metrics(
            steady_n["duration_s"],
            steady_n["requests"],
            steady_n["input_tokens"],
            steady_n["output_tokens"],
            m.total_j,
            base_w,
            e.grid_intensity_g_per_kwh,
        )
        win["energy"] = m.to_dict()
        flags += [f"run {r} steady state: {f}" for f in window_flags(m, e)]
    ok = [o for o in run.outputs if o.ok]
    if check is None:  # structured output: lengths are the model's (llem/workload/structured.py)
        flags += sm.length_flags(run.outputs, w.output_tokens, f"run {r}")
    flags += sm.chunk_flags(run.outputs, f"run {r}")
    client, client_flags = sm.load_generator(run, f"run {r}")
    win.update(
        index=r,
        started_unix_s=began.get("unix", started),
        window="steady_state" if steady_n else "whole_run",
        passes=passes,
        prefix_cache=cache,
        steady_state={
            "open_s": run.steady_open_s,
            "close_s": run.steady_close_s,
            "reached": steady_n is not None,
            "counted_s": list(counted) if steady_n is not None else None,
        },
        whole_run=whole,
        max_in_flight=run.max_in_flight,
        failed_requests=len(run.outputs) - len(ok),
        load_generator=client,
        engine_phases=phase_share(before, after, why_after, series, reader),
        prefix_cache_hits=server_hits(spec, run.outputs, cache, cache_counters),
        batch_latency_s=[o.latency_s for o in ok],
        batch_ttft_s=[o.ttft_s for o in ok],
        latency={k: v for k, v in sm.latency(run.outputs).items() if not k.startswith("batch")},
    )
    if check is not None:  # every successful request of the run, against the whole-run window's joules
        win["structured"] = window_record(
            check,
            [o.text for o in ok],
            [o.output_tokens for o in ok],
            w.output_tokens,
            whole["energy_j"],
            whole["dynamic_energy_j"],
            [o.id for o in ok],
        )
    if speculative is not None:
        win["speculative"] = server_record(speculative, spec_counts, run.outputs, whole["output_tokens"], whole["energy_j"])
    return win, flags + client_flags, run.outputs


def _speculative_counters(readout, url: str) -> Optional[dict]:
    return readout.server_counters(url) if readout is not None and readout.server_counters is not None else None


def _no_device_work() -> None:
    """The baseline's synchronize: the server's device work is not ours to wait for."""


def _peak_rss_mib(pid: int) -> Optional[float]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_log(server) -> Optional[dict]:
    """What the engine's own reader (ServerPlan.read_log, in its folder) finds in the server's log; None
    where the engine has none or llem did not start the server."""
    if server is None or server.plan.read_log is None:
        return None
    try:
        return server.plan.read_log(server.log_path.read_text(errors="replace"))
    except OSError as exc:
        return {"on_gpu": None, "reason": f"the server's log could not be read: {exc}"}


def placement_flags(from_log: Optional[dict], device: str, engine: str) -> list[str]:
    """A CUDA job whose server holds none of the model's weights on a GPU measures the CPU: flagged,
    with the buffers as evidence (not refused: the run's numbers are real, of another configuration)."""
    if device != "cuda" or not from_log or from_log.get("on_gpu") is not False:
        return []
    return [
        f"engine_not_on_gpu: the {engine} holds the model's weights in {from_log.get('model_buffers_mib')} "
        "(MiB per buffer type) and none on a GPU, on a CUDA job: this run measures the engine on the CPU"
    ]


def _describe(
    spec, url: str, model: str, server, fixed, from_log: Optional[dict] = None, from_info: Optional[dict] = None
) -> dict:

    w = spec.workload
    attached = server is None
    return {
        "engine": f"server at {url}" if attached else server.plan.engine,
        "engine_version": None if attached else engine_version(spec.backend_name),
        "effective_settings": {
            "mode": "server",
            "server_argv": None if attached else server.plan.argv,
            "server_env": None if attached else server.plan.env,
            "served_model": model,
            "batch_size": w.concurrency,  # requests in flight; the server decides how it batches them
            "fixed_length": list(fixed),
            "endpoint": ENDPOINTS[w.endpoint],
            "prompts": describe_prompts(spec, None if attached else server.plan),
            **({"from_server_log": from_log} if from_log is not None else {}),
            **({"from_server_info": from_info} if from_info is not None else {}),
        },
    }

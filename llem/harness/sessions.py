"""Multi-turn sessions (workload.turns > 1, server mode, /v1/chat/completions): workload.num_prompts
conversations of workload.turns turns each. Turn k of a conversation sends its whole history (every
earlier user message and the server's own streamed answer to it) plus a new user message, so its
prompt grows turn by turn, and a prefix cache can serve the history.

Turns run in lock step: turn k of every conversation is one load (at most workload.concurrency in
flight, the ordinary load generator), measured as its own energy window; workload.think_time_s
passes between the end of turn k and the start of turn k+1 (every conversation "thinks" at once).
This is what makes the energy of turn k (its cost as the history grows) a measurement rather than an
attribution. The run's whole window spans all turns and the think time between them (idle power in
the total; the dynamic figure takes the idle baseline out); energy per conversation = the whole
window's energy / conversations. Per turn: energy, J/output token, TTFT, and the prefix-cache hit rate
read back from the engine (llem/workload/prefix_cache.py). The cache is emptied before each run,
never between its turns.

User messages come from the text source (the shipped prompts or workload.path), conversation s's
turn k taking text (s x turns + k) mod (texts). One client process (the answers' text is kept for the
next turn's history).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Optional

from llem.harness.steps import window_flags
from llem.results.metrics import window_metrics
from llem.serving import metrics as sm
from llem.serving.cache_reset import reset_flags, reset_prefix_cache
from llem.harness.history import eviction_point, history_reuse, pressure_delta, read_pressure
from llem.workload.client import run_load
from llem.workload.loadgen import RequestInput
from llem.workload.prefix_cache import server_hits
from llem.workload.prompts import source_texts

RULE = (
    "turns in lock step: turn k of every conversation is one load and one energy window; think time between "
    "turns inside the whole-run window; energy per conversation = whole-run energy / conversations"
)


def user_message(texts: list[str], session: int, turn: int, turns: int) -> str:
    return texts[(session * turns + turn) % len(texts)]


def run_sessions(ctx, url: str, model: str, load, chat_fields: tuple[str, ...], server, baseline: dict, r: int):
    """One measured run of the sessions: (window record, flags, every turn's RequestOutputs)."""
    spec, meter = ctx.spec, ctx.meter
    w, e = spec.workload, spec.energy
    base_w = baseline.get("power_w")
    texts = source_texts(w)
    one_process = dataclasses.replace(load, processes=1)  # the answers' text stays in this process
    histories: list[list[dict]] = [[] for _ in range(w.num_prompts)]
    cache = reset_prefix_cache(url, server.plan if server is not None else None)  # outside the windows
    flags: list[str] = reset_flags(cache, r)
    turns, outputs, previous = [], [], None
    pressure = read_pressure(spec, url)
    started = time.time()
    meter.begin(f"run-{r}")
    t0 = time.perf_counter()
    try:
        for k in range(w.turns):
            if k and w.think_time_s:
                time.sleep(w.think_time_s)
            messages = [
                histories[s] + [{"role": "user", "content": user_message(texts, s, k, w.turns)}] for s in range(w.num_prompts)
            ]
            inputs = [
                RequestInput(f"s{s:05d}-t{k}", msgs, w.output_tokens, "chat", chat_fields, keep_text=True)
                for s, msgs in enumerate(messages)
            ]
            meter.begin(f"turn-{r}-{k}", align=False)
            t1 = time.perf_counter()
            run = run_load(url, model, inputs, one_process)
            m = meter.end(f"turn-{r}-{k}", align=False)
            duration = time.perf_counter() - t1
            for s, out in enumerate(run.outputs):
                histories[s] = messages[s] + [{"role": "assistant", "content": out.text or ""}]
            turn = _turn_record(spec, k, run, inputs, duration, m, base_w, cache)
            after = read_pressure(spec, url)  # outside the turn's window (a loopback scrape, after its end)
            turn.update(history=history_reuse(spec, previous, run.outputs), kv_pressure=pressure_delta(pressure, after))
            turns.append(turn)
            previous, pressure = run.outputs, after
            flags += [f"run {r} turn {k}: {f}" for f in window_flags(m, e)]
            flags += sm.length_flags(run.outputs, w.output_tokens, f"run {r} turn {k}")
            failed = [o for o in run.outputs if not o.ok]
            if failed:
                flags.append(
                    f"run {r} turn {k}: {len(failed)} of {len(run.outputs)} requests "
                    f"failed (first: {failed[0].error}); their conversations go on without that answer"
                )
            outputs += run.outputs
    finally:
        whole_m = meter.end(f"run-{r}")
    ok = [o for o in outputs if o.ok]
    win = window_metrics(
        time.perf_counter() - t0,
        len(ok),
        sm.input_tokens(ok),
        sum(o.output_tokens for o in ok),
        whole_m.total_j,
        base_w,
        e.grid_intensity_g_per_kwh,
    )
    win["energy"] = whole_m.to_dict()
    n = w.num_prompts
    win.update(
        index=r,
        started_unix_s=started,
        window="whole_run",
        passes=1,
        prefix_cache=cache,
        whole_run=dict(win),
        failed_requests=len(outputs) - len(ok),
        max_in_flight=min(w.concurrency, n),
        steady_state={"open_s": None, "close_s": None, "reached": False},
        sessions={
            "conversations": n,
            "turns": turns,
            "rule": RULE,
            "think_time_s": w.think_time_s,
            "energy_j_per_conversation": None if win["energy_j"] is None else win["energy_j"] / n,
            "dynamic_energy_j_per_conversation": None if win["dynamic_energy_j"] is None else win["dynamic_energy_j"] / n,
        },
        prefix_cache_hits=server_hits(spec, outputs, cache),
        batch_latency_s=[o.latency_s for o in ok],
        batch_ttft_s=[o.ttft_s for o in ok],
        latency={k: v for k, v in sm.latency(outputs).items() if not k.startswith("batch")},
    )
    return win, flags, outputs


def _turn_record(spec, k: int, run, inputs, duration_s: float, m, base_w, cache) -> dict:
    ok = [o for o in run.outputs if o.ok]
    n_in = sm.input_tokens(ok)  # None where the server sends no usage (llama-cpp-python): not counted, not 0
    rec = window_metrics(
        duration_s, len(ok), n_in, sum(o.output_tokens for o in ok), m.total_j, base_w, spec.energy.grid_intensity_g_per_kwh
    )
    ttft = sorted(o.ttft_s for o in ok if o.ttft_s is not None)
    chars = [sum(len(msg["content"]) for msg in inp.prompt) for inp in inputs]
    rec.update(
        turn=k,
        mean_prompt_tokens=n_in / len(ok) if ok and n_in is not None else None,
        mean_prompt_chars=sum(chars) / len(chars) if chars else None,
        prompt_messages=len(inputs[0].prompt) if inputs else None,
        ttft_p50_s=_pct(ttft, 0.5),
        ttft_p90_s=_pct(ttft, 0.9),
        prefix_cache_hits=server_hits(spec, run.outputs, cache),
        energy=m.to_dict(),
    )
    return rec


def _pct(values: list[float], q: float):
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def _total(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def sessions_summary(windows: list[dict]) -> dict:
    """Per turn, over the measured runs: mean energy, J/output token, TTFT p50, prompt tokens, read-back hit rate;
    per conversation: mean energy."""
    runs = [x["sessions"] for x in windows if x.get("sessions")]
    if not runs:
        return {}

    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    per_turn = []
    for k in range(len(runs[0]["turns"])):
        rows = [run["turns"][k] for run in runs if len(run["turns"]) > k]
        per_turn.append(
            {
                "turn": k,
                **{
                    f: mean([row[f] for row in rows])
                    for f in (
                        "energy_j",
                        "dynamic_energy_j",
                        "energy_j_per_output_token",
                        "dynamic_energy_j_per_output_token",
                        "energy_j_per_request",
                        "mean_prompt_tokens",
                        "mean_prompt_chars",
                        "ttft_p50_s",
                        "ttft_p90_s",
                        "duration_s",
                    )
                },
                "prefix_cache_hit_rate": mean([row["prefix_cache_hits"]["hit_rate"] for row in rows]),
                "history_served_share": mean([(row.get("history") or {}).get("served_share") for row in rows]),
                "preemptions": _total([(row.get("kv_pressure") or {}).get("preemptions") for row in rows]),
                "prefix_cache_reason": rows[0]["prefix_cache_hits"]["reason"],
            }
        )
    return {
        "conversations": runs[0]["conversations"],
        "turns": len(per_turn),
        "think_time_s": runs[0]["think_time_s"],
        "energy_j_per_conversation": mean([run["energy_j_per_conversation"] for run in runs]),
        "dynamic_energy_j_per_conversation": mean([run["dynamic_energy_j_per_conversation"] for run in runs]),
        "per_turn": per_turn,
        "eviction": eviction_point(runs),  # the first turn in which the engine preempted requests
        "rule": RULE,
    }

"""Server-mode numbers from a LoadRun: latency percentiles, goodput, and the token counts of the
steady-state and whole-run windows.

Steady-state tokens (the J/output-token denominator): token-bearing chunks whose client-side
arrival time lies inside [steady open, steady close]; requests in the window: those that
completed inside it. Whole-run tokens: every output token of every successful request (the
server's usage count where sent, else the client's).
"""

from __future__ import annotations

from typing import Optional

from llem.stats import percentile

QUANTILES = (50, 90, 99)


def _dist(name: str, values: list[float]) -> dict:
    out = {f"{name}_p{q}_s": percentile(values, q) for q in QUANTILES}
    out[f"{name}_mean_s"] = sum(values) / len(values) if values else None
    return out


def latency(outputs) -> dict:
    """Percentiles over successful requests: TTFT, every inter-token gap, TPOT, end-to-end latency.
    `batch_latency_*` repeat the end-to-end figures: a request is one engine call here."""
    ok = [o for o in outputs if o.ok]
    e2e = [o.latency_s for o in ok]
    out: dict = {}
    out.update(_dist("ttft", [o.ttft_s for o in ok if o.ttft_s is not None]))
    out.update(_dist("itl", [g for o in ok for g in o.itl_s]))
    out.update(_dist("tpot", [o.tpot_s for o in ok if o.tpot_s is not None]))
    out.update(_dist("e2e_latency", e2e))
    out.update({"batches": len(e2e), "batch_latency_p50_s": out["e2e_latency_p50_s"],
                "batch_latency_p90_s": out["e2e_latency_p90_s"], "batch_latency_p99_s": out["e2e_latency_p99_s"],
                "batch_latency_mean_s": out["e2e_latency_mean_s"]})
    return out


def goodput(outputs, duration_s: float, slo_ttft_s: Optional[float], slo_tpot_s: Optional[float]) -> Optional[dict]:
    """Requests per second that met every SLO given (None without SLOs)."""
    if slo_ttft_s is None and slo_tpot_s is None:
        return None

    def meets(o) -> bool:
        if not o.ok:
            return False
        if slo_ttft_s is not None and (o.ttft_s is None or o.ttft_s > slo_ttft_s):
            return False
        # a one-token answer has no TPOT and cannot break that SLO
        return slo_tpot_s is None or o.tpot_s is None or o.tpot_s <= slo_tpot_s

    good = sum(1 for o in outputs if meets(o))
    return {"slo_ttft_s": slo_ttft_s, "slo_tpot_s": slo_tpot_s, "requests_within_slo": good,
            "fraction_within_slo": good / len(outputs) if outputs else None,
            "goodput_requests_per_s": good / duration_s if duration_s else None}


def steady_counts(outputs, open_s: Optional[float], close_s: Optional[float]) -> Optional[dict]:
    if open_s is None or close_s is None:
        return None
    tokens = sum(1 for o in outputs if o.ok for t in o.token_s if open_s <= t <= close_s)
    done = sum(1 for o in outputs if o.ok and open_s <= o.done_s <= close_s)
    prompt = sum(o.usage_prompt_tokens or 0 for o in outputs if o.ok and open_s <= o.done_s <= close_s)
    return {"duration_s": close_s - open_s, "output_tokens": tokens, "requests": done, "input_tokens": prompt}


def whole_counts(run) -> dict:
    ok = [o for o in run.outputs if o.ok]
    return {"duration_s": run.duration_s, "output_tokens": sum(o.output_tokens for o in ok), "requests": len(ok),
            "input_tokens": sum(o.usage_prompt_tokens or 0 for o in ok)}


def token_accounting(outputs) -> dict:
    ok = [o for o in outputs if o.ok]
    with_usage = [o for o in ok if o.usage_completion_tokens is not None]
    out = {
        "client_output_tokens": sum(o.client_tokens for o in ok),
        "server_output_tokens": sum(o.usage_completion_tokens for o in with_usage) if with_usage else None,
        "requests_with_server_usage": len(with_usage),
        "finish_reasons": sorted({o.finish_reason for o in ok if o.finish_reason}),
    }
    expected = [o for o in ok if o.expected_prompt_tokens is not None]
    if expected:  # token-id prompts: their exact length against the server's count
        out["prompt_tokens_sent"] = sum(o.expected_prompt_tokens for o in expected)
        out["prompt_tokens_server"] = sum(o.usage_prompt_tokens or 0 for o in expected)
        out["requests_with_other_prompt_tokens"] = len(_prompt_mismatches(expected))
    return out


def _prompt_mismatches(outputs) -> list:
    """Successful token-id requests whose server usage.prompt_tokens is missing or differs from the ids sent."""
    return [o for o in outputs if o.ok and o.expected_prompt_tokens is not None
            and o.usage_prompt_tokens != o.expected_prompt_tokens]


def prompt_token_flags(outputs, what: str) -> list[str]:
    """A validity flag when the server did not count exactly the token ids sent (e.g. it added a BOS)."""
    bad = _prompt_mismatches(outputs)
    if not bad:
        return []
    o = bad[0]
    got = "no usage" if o.usage_prompt_tokens is None else f"usage.prompt_tokens={o.usage_prompt_tokens}"
    return [f"{what}: {len(bad)} token-id requests were not counted as sent by the server (first: "
            f"{o.expected_prompt_tokens} ids sent, {got}); workload.input_tokens is not exact there"]


def _named(outputs, limit: int = 3) -> str:
    """'builtin-00005: 206 tokens (client count), finish_reason length; ...' for the first few requests."""
    parts = []
    for o in outputs[:limit]:
        source = "client count" if o.usage_completion_tokens is None else "server usage"
        parts.append(f"{o.id}: {o.output_tokens} tokens ({source}), finish_reason {o.finish_reason}")
    more = f"; and {len(outputs) - limit} more" if len(outputs) > limit else ""
    return "; ".join(parts) + more


def length_flags(outputs, max_tokens: int, what: str) -> list[str]:
    """Validity flags for successful requests whose output token count is not max_tokens (= workload.output_tokens),
    naming the requests and their counts. Three cases, told apart because they mean different things:

    - more than max_tokens: the server generated past its cap (llama-cpp-python does while it holds back incomplete
      UTF-8 bytes, docs/server.md); the tokens are counted, the work was done;
    - fewer, finish_reason "length", no usage: the server reached its cap but the stream showed fewer tokens (a
      chunk carried several; llama.cpp sends the byte tokens of one character as one chunk): the count is low;
    - fewer otherwise: the server ended early (fixed length not honoured)."""
    ok = [o for o in outputs if o.ok]
    over = [o for o in ok if o.output_tokens > max_tokens]
    under = [o for o in ok if o.output_tokens < max_tokens]
    merged = [o for o in under if o.finish_reason == "length" and o.usage_completion_tokens is None]
    early = [o for o in under if o not in merged]

    def head(group) -> str:
        return f"{what}: {len(group)} of {len(ok)} requests"

    flags = []
    if over:
        flags.append(f"{head(over)} got more than max_tokens={max_tokens} output tokens ({_named(over)}): "
                     f"the server generated past its cap; these tokens count in throughput and J/token (docs/server.md)")
    if merged:
        flags.append(f"{head(merged)} ended at max_tokens={max_tokens} but streamed fewer tokens "
                     f"({_named(merged)}): a chunk carried several tokens, so the client count is low (docs/server.md)")
    if early:
        flags.append(f"{head(early)} ended before max_tokens={max_tokens} ({_named(early)}): "
                     f"fixed length not honoured by the server")
    return flags


CLIENT_BUSY_FLAG = 0.7  # share of one core; benchmarks/loadgen_capacity.py: near 1.0 the client delays what it times


def load_generator(run, what: str) -> tuple[dict, list[str]]:
    """The client's own load during a run (CPU time of its event loop thread over the run's duration),
    and a validity flag when it was near one core's capacity: its queueing then adds to the TTFT and
    inter-token gaps it reports, and can cap the rate it takes tokens in."""
    cpu = run.client_cpu_s
    busy = cpu / run.duration_s if cpu is not None and run.duration_s > 0 else None
    info = {"cpu_s": cpu, "busy_share": busy, "flag_at": CLIENT_BUSY_FLAG}
    if busy is None or busy < CLIENT_BUSY_FLAG:
        return info, []
    return info, [f"{what}: llem's load generator kept its core {busy:.0%} busy (flagged from {CLIENT_BUSY_FLAG:.0%}): near "
                  f"one core's capacity its own queueing adds to the TTFT and inter-token gaps it records and can cap "
                  f"throughput (docs/benchmarks.md, load-generator capacity); treat this point's latencies as upper "
                  f"bounds, or run llem on a faster core"]

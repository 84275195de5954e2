"""Server-mode numbers from a LoadRun: latency percentiles, goodput, and the token counts of the
steady-state and whole-run windows.

Steady-state tokens (the J/output-token denominator): the tokens of the chunks whose client-side
arrival time lies inside [steady open, steady close]; requests in the window: those that
completed inside it. Input tokens: the server's usage.prompt_tokens where sent, else the client's
own count (token ids sent, or the prompt tokenized as the server does: llem/serving/requests.py);
null where some request has neither. Whole-run tokens: every output token of every successful request (the
server's usage count where sent, else the client's).
"""

from __future__ import annotations

from typing import Optional

from llem.results.stats import percentile

QUANTILES = (50, 90, 99)


def _dist(name: str, values: list[float]) -> dict:
    out = {f"{name}_p{q}_s": percentile(values, q) for q in QUANTILES}
    out[f"{name}_mean_s"] = sum(values) / len(values) if values else None
    return out


def latency(outputs) -> dict:
    """Percentiles over successful requests: TTFT, ITL (per token, a chunk's gap spread over its tokens),
    ICL (per chunk), TPOT, end-to-end latency, and tokens per chunk (llem/workload/records.py has the
    definitions). `batch_latency_*` repeat the end-to-end figures: a request is one engine call here."""
    ok = [o for o in outputs if o.ok]
    e2e = [o.latency_s for o in ok]
    out: dict = {}
    out.update(_dist("ttft", [o.ttft_s for o in ok if o.ttft_s is not None]))
    out.update(_dist("itl", [g for o in ok for g in o.itl_s]))
    out.update(_dist("icl", [g for o in ok for g in o.icl_s]))
    out.update(_dist("tpot", [o.tpot_s for o in ok if o.tpot_s is not None]))
    out.update(_dist("e2e_latency", e2e))
    out.update(chunking(ok))
    out.update(
        {
            "batches": len(e2e),
            "batch_latency_p50_s": out["e2e_latency_p50_s"],
            "batch_latency_p90_s": out["e2e_latency_p90_s"],
            "batch_latency_p99_s": out["e2e_latency_p99_s"],
            "batch_latency_mean_s": out["e2e_latency_mean_s"],
        }
    )
    return out


def chunking(ok) -> dict:
    """Tokens per token-bearing chunk over the successful requests, and how they were counted."""
    sizes = [n for o in ok for n in o.chunk_tokens]
    listed = sum(1 for o in ok if o.token_ids_listed)
    source = (
        "server token_ids"
        if listed == len(ok)
        else "one per chunk (the server lists no token ids)"
        if not listed
        else f"server token_ids for {listed} of {len(ok)} requests, one per chunk for the rest"
    )
    return {
        "chunks": len(sizes),
        "tokens_per_chunk_mean": sum(sizes) / len(sizes) if sizes else None,
        "tokens_per_chunk_p50": percentile(sizes, 50),
        "tokens_per_chunk_p99": percentile(sizes, 99),
        "tokens_per_chunk_max": max(sizes, default=None),
        "chunks_with_several_tokens": sum(1 for n in sizes if n > 1),
        "tokens_per_chunk_source": source,
    }


def chunk_flags(outputs, what: str) -> list[str]:
    """A flag when chunks carry several tokens: the client then sees one gap per chunk, not per token, so ITL
    is the chunk's gap spread over its tokens (an estimate) and ICL is what was observed."""
    ok = [o for o in outputs if o.ok]
    c = chunking(ok)
    if not c["chunks_with_several_tokens"]:
        return []
    example = next(o for o in ok if any(n > 1 for n in o.chunk_tokens))
    head = ", ".join(str(n) for n in example.chunk_tokens[:12]) + (", ..." if len(example.chunk_tokens) > 12 else "")
    return [
        f"{what}: chunks carry several tokens: mean {c['tokens_per_chunk_mean']:.2f} tokens/chunk "
        f"({c['chunks_with_several_tokens']} of {c['chunks']} chunks carry more than one, at most "
        f"{c['tokens_per_chunk_max']}; counted by {c['tokens_per_chunk_source']}; e.g. {example.id}: {head}); "
        f"ITL spreads each chunk's gap evenly over its tokens and ICL is the gap between chunks as received "
        f"(docs/server.md, latency definitions)"
    ]


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
    return {
        "slo_ttft_s": slo_ttft_s,
        "slo_tpot_s": slo_tpot_s,
        "requests_within_slo": good,
        "fraction_within_slo": good / len(outputs) if outputs else None,
        "goodput_requests_per_s": good / duration_s if duration_s else None,
    }


def steady_counts(outputs, open_s: Optional[float], close_s: Optional[float]) -> Optional[dict]:
    if open_s is None or close_s is None:
        return None
    tokens = sum(n for o in outputs if o.ok for t, n in zip(o.chunk_s, o.chunk_tokens) if open_s <= t <= close_s)
    done = [o for o in outputs if o.ok and open_s <= o.done_s <= close_s]
    return {"duration_s": close_s - open_s, "output_tokens": tokens, "requests": len(done), "input_tokens": input_tokens(done)}


def whole_counts(run) -> dict:
    ok = [o for o in run.outputs if o.ok]
    return {
        "duration_s": run.duration_s,
        "output_tokens": sum(o.output_tokens for o in ok),
        "requests": len(ok),
        "input_tokens": input_tokens(ok),
    }


def input_tokens(outputs) -> Optional[int]:
    """Prompt tokens of these requests (the server's usage, else the client's count); None if any is uncounted."""
    counts = [o.input_tokens for o in outputs]
    return None if any(n is None for n in counts) else sum(counts)


def input_tokens_source(outputs) -> dict:
    """Where the prompt token counts come from, and the reason where some are missing."""
    ok = [o for o in outputs if o.ok]
    usage = sum(1 for o in ok if o.usage_prompt_tokens is not None)
    client = sum(1 for o in ok if o.usage_prompt_tokens is None and o.client_prompt_tokens is not None)
    missing = len(ok) - usage - client
    parts = ([f"server usage ({usage})"] if usage else []) + ([f"client count ({client})"] if client else [])
    out = {
        "input_tokens_source": " + ".join(parts) if parts else None,
        "requests_with_server_prompt_usage": usage,
        "requests_with_client_prompt_count": client,
    }
    if missing:
        out["input_tokens_reason"] = (
            f"{missing} of {len(ok)} requests have no prompt token count: the server sent no "
            f"usage and the client could not count their prompts (docs/server.md)"
        )
    return out


def token_accounting(outputs) -> dict:
    ok = [o for o in outputs if o.ok]
    with_usage = [o for o in ok if o.usage_completion_tokens is not None]
    out = {
        "client_output_tokens": sum(o.client_tokens for o in ok),
        "server_output_tokens": sum(o.usage_completion_tokens for o in with_usage) if with_usage else None,
        "requests_with_server_usage": len(with_usage),
        "finish_reasons": sorted({o.finish_reason for o in ok if o.finish_reason}),
        **input_tokens_source(ok),
    }
    expected = [o for o in ok if o.expected_prompt_tokens is not None]
    if expected:  # token-id prompts: their exact length against the server's count
        out["prompt_tokens_sent"] = sum(o.expected_prompt_tokens for o in expected)
        server = [o.usage_prompt_tokens for o in expected]  # None where some request had no usage (flagged)
        out["prompt_tokens_server"] = None if None in server else sum(server)
        out["requests_with_other_prompt_tokens"] = len(_prompt_mismatches(expected))
    return out


def _prompt_mismatches(outputs) -> list:
    """Successful token-id requests whose server usage.prompt_tokens is missing or differs from the ids sent."""
    return [
        o for o in outputs if o.ok and o.expected_prompt_tokens is not None and o.usage_prompt_tokens != o.expected_prompt_tokens
    ]


def prompt_token_flags(outputs, what: str) -> list[str]:
    """A validity flag when the server did not count exactly the token ids sent (e.g. it added a BOS)."""
    bad = _prompt_mismatches(outputs)
    if not bad:
        return []
    o = bad[0]
    got = "no usage" if o.usage_prompt_tokens is None else f"usage.prompt_tokens={o.usage_prompt_tokens}"
    return [
        f"{what}: {len(bad)} token-id requests were not counted as sent by the server (first: "
        f"{o.expected_prompt_tokens} ids sent, {got}); workload.input_tokens is not exact there"
    ]


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

    def own(o) -> int:  # a request's own cap (chat dataset lengths), else workload.output_tokens
        return getattr(o, "max_tokens", None) or max_tokens

    over = [o for o in ok if o.output_tokens > own(o)]
    under = [o for o in ok if o.output_tokens < own(o)]
    cap = f"max_tokens={max_tokens}" if all(own(o) == max_tokens for o in ok) else "their own max_tokens"
    merged = [o for o in under if o.finish_reason == "length" and o.usage_completion_tokens is None]
    early = [o for o in under if o not in merged]

    def head(group) -> str:
        return f"{what}: {len(group)} of {len(ok)} requests"

    flags = []
    if over:
        flags.append(
            f"{head(over)} got more than {cap} output tokens ({_named(over)}): "
            f"the server generated past its cap; these tokens count in throughput and J/token (docs/server.md)"
        )
    if merged:
        flags.append(
            f"{head(merged)} ended at {cap} but streamed fewer tokens "
            f"({_named(merged)}): a chunk carried several tokens, so the client count is low (docs/server.md)"
        )
    if early:
        flags.append(f"{head(early)} ended before {cap} ({_named(early)}): fixed length not honoured by the server")
    return flags


CLIENT_BUSY_FLAG = 0.7  # share of one core; benchmarks/loadgen_capacity.py: near 1.0 the client delays what it times


def load_generator(run, what: str) -> tuple[dict, list[str]]:
    """The client's own load during a run: CPU time of its event loop thread(s) over the run's duration, per
    client process where it was sharded (llem/workload/shards.py), and a validity flag when a process was near
    one core's capacity: its queueing then adds to the TTFT and inter-token gaps it records and can cap the
    rate it takes tokens in."""
    cpu = run.client_cpu_s
    shards = list(getattr(run, "shards", None) or [])
    if shards:
        shares = [s["busy_share"] for s in shards if s.get("busy_share") is not None]
        busy = max(shares) if shares else None
    else:
        busy = cpu / run.duration_s if cpu is not None and run.duration_s > 0 else None
    info = {
        "processes": max(1, len(shards)),
        "cpu_s": cpu,
        "busy_share": busy,
        "flag_at": CLIENT_BUSY_FLAG,
        "cores_busy": cpu / run.duration_s if cpu is not None and run.duration_s > 0 else None,
        # requests sent again because the server had closed their pooled connection (llem/workload/loadgen.py)
        "resent_requests": sum(1 for o in run.outputs if getattr(o, "resent", 0)),
    }
    if shards:
        info.update(shards=shards, coordinator_cpu_s=getattr(run, "coordinator_cpu_s", None))
    if busy is None or busy < CLIENT_BUSY_FLAG:
        return info, []
    where = f"its busiest of {len(shards)} processes kept its core" if shards else "kept its core"
    return info, [
        f"{what}: llem's load generator {where} {busy:.0%} busy (flagged from {CLIENT_BUSY_FLAG:.0%}): near "
        f"one core's capacity its own queueing adds to the TTFT and inter-token gaps it records and can cap "
        f"throughput (docs/benchmarks.md, load-generator capacity); treat this point's latencies as upper "
        f"bounds, or give the client more processes (workload.client_processes) or a faster core"
    ]

"""What vLLM reports of its prefix cache (the registry's `prefix_cache` entry; docs/workloads.md).

Server: with --enable-prompt-tokens-details, a request's usage carries
prompt_tokens_details.cached_tokens; vLLM leaves prompt_tokens_details out when nothing was cached,
so on a server llem started (the flag on) an absent field is 0, on an attached one it is unknown.
Offline: each vllm RequestOutput's num_cached_tokens (the prompt tokens its prefix cache served).
Beside the per-request counts, the server's engine-wide counters vllm:prefix_cache_hits and
vllm:prefix_cache_queries (tokens; Prometheus text at /metrics) are read before and after each run.
"""

from __future__ import annotations

import re
from typing import Optional

from llem.serving.engine_metrics import parse, read_counters
from llem.workload.prefix_cache import CacheReadout

SERVER_FIELD = "usage.prompt_tokens_details.cached_tokens (vLLM, --enable-prompt-tokens-details)"


def readout(spec) -> CacheReadout:
    attached = spec.workload.server_url is not None

    def read(usage: Optional[dict], _timings: Optional[dict]) -> Optional[int]:
        if not usage:
            return None
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            return details["cached_tokens"]
        return None if attached else 0  # left out when 0, on a server started with the flag

    return CacheReadout(
        server_args=("--enable-prompt-tokens-details",),
        server_read=read,
        server_counters=counters,
        server_pressure=pressure,
        server_field=SERVER_FIELD + ("; an attached server may run without the flag" if attached else ""),
        offline_field="RequestOutput.num_cached_tokens",
    )


def offline_cached(results) -> list[Optional[int]]:
    """Cached prompt tokens of each vllm RequestOutput (None where this vLLM has no such field)."""
    return [getattr(r, "num_cached_tokens", None) for r in results]


_SAMPLE = re.compile(r"^(vllm:prefix_cache_(?:hits|queries))(?:_total)?(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$")


def parse_counters(text: str) -> Optional[dict]:
    """{"hits", "queries"} from vLLM's Prometheus text, summed over its label sets (engines); None if absent."""
    sums: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            key = m.group(1).rsplit("_", 1)[1]
            sums[key] = sums.get(key, 0.0) + float(m.group(2))
    if "hits" not in sums or "queries" not in sums:
        return None
    return {
        "hits": sums["hits"],
        "queries": sums["queries"],
        "source": "vllm:prefix_cache_hits / vllm:prefix_cache_queries (/metrics)",
    }


def counters(url: str, timeout_s: float = 10.0) -> Optional[dict]:
    return read_counters(url, parse_counters, timeout_s)


def parse_pressure(text: str) -> Optional[dict]:
    """{"preemptions"}: vLLM's preemption counter (requests whose KV cache it freed for lack of room) from its
    Prometheus text, summed over its label sets (engines); None if absent."""
    found = parse(text, {"preemptions": "vllm:num_preemptions_total"})
    return dict(found, source="vllm:num_preemptions_total (/metrics)") if found else None


def pressure(url: str, timeout_s: float = 10.0) -> Optional[dict]:
    return read_counters(url, parse_pressure, timeout_s)

"""What SGLang reports of its radix cache (the registry's `prefix_cache` entry; docs/workloads.md).

Server: with --enable-cache-report, a request's usage carries prompt_tokens_details.cached_tokens
(its meta_info.cached_tokens, the prompt tokens the radix cache served). SGLang leaves
prompt_tokens_details out when nothing was cached (0.5.17's srt/entrypoints/openai/usage_processor.py
`_details_if_cached`: "only when count > 0"), so on a server llem started (the flag on) an absent
field is 0, on an attached one it is unknown. Until 2026-12-07 llem read an absent field as "not
reported" and pooled only the requests that had a hit, which overstated the hit rate (H100 runs of
that day: 0.500 read, 0.237 over all requests; docs/measurements.md). With --enable-metrics, its
/metrics counts the requests it retracted for lack of KV-cache room (sglang:num_retracted_requests_total,
SGLang's preemption; the name from SGLang 0.5.16's srt/observability/metrics_collector.py). Offline: each result
of sglang.Engine.generate carries meta_info.cached_tokens (0.5.17's srt/managers/tokenizer_manager.py sets it for
every request, 0 included); the backend flushes the radix cache before every pass.
"""

from __future__ import annotations

from typing import Optional

from llem.serving.engine_metrics import parse, read_counters
from llem.workload.prefix_cache import CacheReadout


def readout(spec) -> CacheReadout:
    attached = spec.workload.server_url is not None

    def read(usage: Optional[dict], _timings: Optional[dict]) -> Optional[int]:
        if not usage:
            return None  # no usage chunk: nothing was reported
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            return details["cached_tokens"]
        return None if attached else 0  # left out when 0, on a server started with --enable-cache-report

    return CacheReadout(
        server_args=("--enable-cache-report", "--enable-metrics"),
        server_read=read,
        server_field="usage.prompt_tokens_details.cached_tokens (SGLang, --enable-cache-report; absent: 0)"
        + ("; an attached server may run without the flag" if attached else ""),
        server_pressure=pressure,
        offline_field=OFFLINE_FIELD,
    )


OFFLINE_FIELD = "meta_info.cached_tokens (sglang.Engine.generate)"


def offline_cached(results) -> list[Optional[int]]:
    """Cached prompt tokens of each sglang.Engine.generate result; None where a result has no such count."""
    counts = []
    for res in results:
        meta = res.get("meta_info") if isinstance(res, dict) else None
        value = meta.get("cached_tokens") if isinstance(meta, dict) else None
        counts.append(value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None)
    return counts


def parse_pressure(text: str) -> Optional[dict]:
    """{"preemptions"}: SGLang's retracted-request counter (requests whose KV cache it freed for lack of room)
    from its Prometheus text, summed over its label sets; None if absent."""
    found = parse(text, {"preemptions": "sglang:num_retracted_requests_total"})
    return dict(found, source="sglang:num_retracted_requests_total (/metrics, --enable-metrics)") if found else None


def pressure(url: str, timeout_s: float = 10.0) -> Optional[dict]:
    return read_counters(url, parse_pressure, timeout_s)

"""What SGLang reports of its radix cache (the registry's `prefix_cache` entry; docs/workloads.md).

Server: with --enable-cache-report, a request's usage carries prompt_tokens_details.cached_tokens
(its meta_info.cached_tokens, the prompt tokens the radix cache served). Offline: not read yet
(sglang.Engine.generate's meta_info.cached_tokens is the field to wire).
"""

from __future__ import annotations

from typing import Optional

from llem.workload.prefix_cache import CacheReadout


def readout(spec) -> CacheReadout:
    def read(usage: Optional[dict], _timings: Optional[dict]) -> Optional[int]:
        details = (usage or {}).get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            return details["cached_tokens"]
        return None

    return CacheReadout(
        server_args=("--enable-cache-report",),
        server_read=read,
        server_field="usage.prompt_tokens_details.cached_tokens (SGLang, --enable-cache-report)",
        offline_reason="SGLang's offline cached-token count (meta_info.cached_tokens) is not read by llem yet",
    )

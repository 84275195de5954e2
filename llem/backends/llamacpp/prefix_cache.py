"""What llama.cpp reports of its prompt cache (the registry's `prefix_cache` entry; docs/workloads.md).

Server: the OpenAI field usage.prompt_tokens_details.cached_tokens where the server sends it, else
llama-server's timings.cache_n (prompt tokens taken from the slot's cache). llama-cpp-python's own
server sends neither (its usage has prompt, completion and total tokens only), so there the hit
rate is null with that reason. Offline: llem's llama.cpp backend resets the context before every
request, so nothing is reused and there is no count to read.
"""

from __future__ import annotations

from typing import Optional

from llem.workload.prefix_cache import CacheReadout


def readout(spec) -> CacheReadout:
    def read(usage: Optional[dict], timings: Optional[dict]) -> Optional[int]:
        details = (usage or {}).get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            return details["cached_tokens"]
        if isinstance((timings or {}).get("cache_n"), int):
            return timings["cache_n"]
        return None

    return CacheReadout(
        server_read=read,
        server_field="usage.prompt_tokens_details.cached_tokens, else timings.cache_n (llama-server); "
        "llama-cpp-python's server reports neither",
        offline_reason="llem's llama.cpp backend resets the context before every request: no prefix "
        "is reused, and llama-cpp-python reports no cached-token count",
        offline_state="no prefix reuse: the context is reset before every request (every prompt is prefilled in full)",
    )

"""What llem's PyTorch backend knows of prefix caching (the registry's `prefix_cache` entry; docs/workloads.md):
transformers' generate keeps no KV cache from one call to the next, so no prompt token is ever served from
a cache, and there is no count to read: the hit rate is null with that reason, not an assumed 0."""

from __future__ import annotations

from llem.workload.prefix_cache import CacheReadout


def readout(spec) -> CacheReadout:
    return CacheReadout(
        offline_reason="transformers' generate keeps no KV cache across calls: every prompt is "
        "prefilled in full and there is no cached-token count to read",
        offline_state="no prefix cache across requests (every prompt is prefilled in full)",
    )

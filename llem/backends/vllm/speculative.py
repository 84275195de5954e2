"""What vLLM reports of speculative decoding (the registry's `speculative` entry; docs/workloads.md).

vLLM counts, per engine, the scheduler's verification steps that checked a draft (`vllm:spec_decode_num_drafts`),
the tokens drafted (`..._num_draft_tokens`) and those the target accepted (`..._num_accepted_tokens`)
(vllm/v1/spec_decode/metrics.py SpecDecodingProm). Offline they are read from LLM.get_metrics(), which needs the
engine's stat logging on (llem passes disable_log_stats=False where speculative_config is set); on the server
from its Prometheus text at /metrics (names with `_total`, summed over the engines' label sets). Both are
read before and after each window or run, outside the energy windows.
"""

from __future__ import annotations

import json
import re
from typing import Optional

from llem.results.speculative import SpecReadout
from llem.serving.engine_metrics import read_counters

NAMES = {
    "drafts": "vllm:spec_decode_num_drafts",
    "draft_tokens": "vllm:spec_decode_num_draft_tokens",
    "accepted_tokens": "vllm:spec_decode_num_accepted_tokens",
}
OFFLINE_SOURCE = "vllm.LLM.get_metrics(): " + ", ".join(NAMES.values())
SERVER_SOURCE = "vLLM /metrics: " + ", ".join(f"{n}_total" for n in NAMES.values())
_SAMPLE = re.compile(r"^(vllm:spec_decode_num_(?:drafts|draft_tokens|accepted_tokens))(?:_total)?(?:\{[^}]*\})?\s+(\S+)\s*$")


def readout(spec) -> SpecReadout:
    config = spec.backend.get("speculative_config")
    if not config:
        return SpecReadout()
    return SpecReadout(
        configured=f"vLLM speculative_config={json.dumps(config, sort_keys=True)}",
        server_counters=counters,
        offline_source=OFFLINE_SOURCE,
        server_reason="vLLM's /metrics has no spec_decode counters (its speculative decoding is off, or the server is not vLLM)",
    )


def offline_counts(metrics) -> Optional[dict]:
    """The counts from LLM.get_metrics()'s Metric objects (name, value), summed over engines; None where absent."""
    names = {v: k for k, v in NAMES.items()}
    found: dict[str, int] = {}
    for metric in metrics:
        key = names.get(getattr(metric, "name", None))
        if key is not None and isinstance(getattr(metric, "value", None), (int, float)):
            found[key] = found.get(key, 0) + int(metric.value)
    if set(found) != set(NAMES):
        return None
    return {**found, "source": OFFLINE_SOURCE}


def parse_counters(text: str) -> Optional[dict]:
    """The counts from vLLM's Prometheus text, summed over label sets (engines); None where absent."""
    names = {v: k for k, v in NAMES.items()}
    found: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            key = names[m.group(1)]
            found[key] = found.get(key, 0.0) + float(m.group(2))
    if set(found) != set(NAMES):
        return None
    return {**{k: int(round(v)) for k, v in found.items()}, "source": SERVER_SOURCE}


def counters(url: str, timeout_s: float = 10.0) -> Optional[dict]:
    return read_counters(url, parse_counters, timeout_s)

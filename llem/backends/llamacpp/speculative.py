"""What llama.cpp reports of speculative decoding (the registry's `speculative` entry; docs/workloads.md).

llem runs it through llama-server only (backend.server=llama-server; config.check_speculative refuses the rest).
llama-server (--metrics) counts, over every request finished since it started (tools/server/server-task.cpp
and server-context.cpp of the llama.cpp that llama-cpp-python 0.3.36 vendors):
`llamacpp:spec_decode_num_drafts_total` (verification steps), `..._num_draft_tokens_total` (tokens drafted)
and `..._num_accepted_tokens_total` (drafted tokens the target accepted), read before and after each run.
Each response's `timings` carries the same request's `draft_n` and `draft_n_accepted` (left out where it
drafted nothing): their sum over a run is a second reading, checked against the counters.
"""

from __future__ import annotations

import re
from typing import Optional

from llem.backends.llamacpp.config import speculative_settings
from llem.results.speculative import SpecReadout
from llem.serving.engine_metrics import read_counters

SERIES = {
    "drafts": "llamacpp:spec_decode_num_drafts_total",
    "draft_tokens": "llamacpp:spec_decode_num_draft_tokens_total",
    "accepted_tokens": "llamacpp:spec_decode_num_accepted_tokens_total",
}
SOURCE = "llama-server /metrics: " + ", ".join(SERIES.values())
_SAMPLE = re.compile(r"^(llamacpp:spec_decode_num_(?:drafts|draft_tokens|accepted_tokens)_total)(?:\{[^}]*\})?\s+(\S+)\s*$")


def readout(spec) -> SpecReadout:
    b = spec.backend
    chosen = speculative_settings(b)
    if not chosen or b["server"] != "llama-server":
        return SpecReadout()
    return SpecReadout(
        configured="llama-server " + ", ".join(f"{k}={v}" for k, v in chosen.items()),
        server_counters=counters,
        server_request=per_request,
        offline_reason="llem runs llama.cpp's speculative decoding through llama-server only",
    )


def parse_counters(text: str) -> Optional[dict]:
    """{"drafts", "draft_tokens", "accepted_tokens", "source"} from llama-server's Prometheus text; None where its
    /metrics has no spec_decode counters (a release before them)."""
    found = {}
    names = {v: k for k, v in SERIES.items()}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            found[names[m.group(1)]] = int(round(float(m.group(2))))
    if set(found) != set(SERIES):
        return None
    return {**found, "source": SOURCE}


def counters(url: str, timeout_s: float = 10.0) -> Optional[dict]:
    return read_counters(url, parse_counters, timeout_s)


def per_request(_usage: Optional[dict], timings: Optional[dict]) -> Optional[dict]:
    """One response's own counts from its timings (llama-server leaves draft_n out where it drafted nothing);
    None where the response carried no timings at all."""
    if not isinstance(timings, dict):
        return None
    drafted, accepted = timings.get("draft_n", 0), timings.get("draft_n_accepted", 0)
    if not isinstance(drafted, int) or not isinstance(accepted, int):
        return None
    return {"drafts": None, "draft_tokens": drafted, "accepted_tokens": accepted}

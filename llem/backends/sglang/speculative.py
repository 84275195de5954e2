"""What SGLang reports of speculative decoding (the registry's `speculative` entry; docs/workloads.md).

Offline (sglang.Engine.generate): each result's meta_info, where the request was verified at least once
(SGLang 0.5.16, managers/tokenizer_manager.py _calculate_spec_decoding_metrics): spec_verify_ct (verification
steps), spec_num_correct_drafts (accepted draft tokens) and spec_num_proposed_drafts, which SGLang computes as
spec_verify_ct x (speculative_num_draft_tokens - 1) rather than counting; releases before 0.5.16 name the
last two spec_accept_token_num and spec_draft_token_num. A request without them was never verified (0).
Server: SGLang's OpenAI streams carry no meta_info; its /metrics (--enable-metrics) counts verification steps
(`sglang:spec_verify_calls_total`), but accepted and drafted tokens only as gauges of recent batches
(`sglang:spec_accept_rate`, `spec_accept_length`), which no run can be differenced over: there the acceptance
rate is null with that reason, the drafts counted.
Not yet run on hardware by llem (SGLang has no CPU build); the field names are read from SGLang's sources.
"""

from __future__ import annotations

import re
from typing import Optional

from llem.results.speculative import SpecReadout
from llem.serving.engine_metrics import read_counters

# (accepted, drafted) meta_info names, newest first
META_NAMES = (
    ("spec_num_correct_drafts", "spec_num_proposed_drafts"),
    ("spec_accepted_drafts", "spec_proposed_drafts"),
    ("spec_accept_token_num", "spec_draft_token_num"),
)
OFFLINE_SOURCE = (
    "meta_info of each sglang.Engine.generate result: spec_verify_ct, spec_num_correct_drafts and "
    "spec_num_proposed_drafts (SGLang computes the last as spec_verify_ct x (speculative_num_draft_tokens - 1))"
)
SERVER_SERIES = "sglang:spec_verify_calls_total"
SERVER_REASON = (
    "SGLang's /metrics counts verification steps (sglang:spec_verify_calls_total) but gives accepted and "
    "drafted tokens only as gauges of recent batches (sglang:spec_accept_rate, spec_accept_length), which "
    "a run cannot be differenced over, and its OpenAI streams carry no meta_info"
)
_SAMPLE = re.compile(r"^sglang:spec_verify_calls_total(?:\{[^}]*\})?\s+(\S+)\s*$")


def readout(spec) -> SpecReadout:
    b = spec.backend
    if not b.get("speculative_algorithm"):
        return SpecReadout()
    knobs = ", ".join(
        f"{k}={b[k]}"
        for k in (
            "speculative_algorithm",
            "speculative_draft_model_path",
            "speculative_num_steps",
            "speculative_eagle_topk",
            "speculative_num_draft_tokens",
        )
        if b[k] is not None
    )
    return SpecReadout(
        configured=f"SGLang {knobs}",
        server_args=("--enable-metrics",),
        server_counters=counters,
        server_reason=SERVER_REASON,
        offline_source=OFFLINE_SOURCE,
    )


def meta_counts(meta: Optional[dict]) -> dict:
    """One result's counts from its meta_info (0 where SGLang left them out: the request was never verified)."""
    meta = meta or {}
    steps = meta.get("spec_verify_ct") or 0
    for accepted, drafted in META_NAMES:
        if accepted in meta and drafted in meta:
            return {"drafts": int(steps), "draft_tokens": int(meta[drafted]), "accepted_tokens": int(meta[accepted])}
    return {"drafts": int(steps), "draft_tokens": 0, "accepted_tokens": 0}


def parse_counters(text: str) -> Optional[dict]:
    """{"drafts": verification steps, summed over label sets} from SGLang's Prometheus text; None where absent."""
    values = [float(m.group(1)) for m in map(_SAMPLE.match, text.splitlines()) if m]
    if not values:
        return None
    return {
        "drafts": int(round(sum(values))),
        "draft_tokens": None,
        "accepted_tokens": None,
        "source": f"SGLang /metrics: {SERVER_SERIES}",
    }


def counters(url: str, timeout_s: float = 10.0) -> Optional[dict]:
    return read_counters(url, parse_counters, timeout_s)

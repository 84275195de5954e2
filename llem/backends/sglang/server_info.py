"""What SGLang says it resolved: its server-info answer, read the same way offline and in server mode.

SGLang leaves several settings to be chosen when the model loads (attention_backend null: the model
runner picks one for the card and the model, e.g. fa3 on Hopper where its kernels are installed,
else flashinfer or triton). That choice is made in the scheduler process, so the ServerArgs of the
process that asked (llem's worker offline, nobody in server mode) may still say null. SGLang's
server info carries the scheduler's own resolved arguments: its `internal_states` (one entry per
data-parallel rank, from Scheduler.get_internal_state: the resolved server args plus
`memory_usage` and `effective_max_running_requests_per_dp`), beside the requesting side's
arguments and the scheduler's `max_total_num_tokens` at the top level. Read from SGLang 0.5.17's
sources (`srt/entrypoints/http_server.py` `server_info`, `srt/entrypoints/engine.py`
`Engine.get_server_info`, `srt/managers/scheduler.py` `get_internal_state`).

Imports nothing heavy: the server side reads the JSON over loopback, the offline side the dict.
"""

from __future__ import annotations

from typing import Any, Optional

# GET paths of the server's info, tried in order: /server_info from 0.5.17 on (where /get_server_info
# still answers, deprecated, with a warning in the server's log), /get_server_info before it.
INFO_PATHS = ("/server_info", "/get_server_info")

# ServerArgs fields reported back as the effective settings (after SGLang resolved its defaults).
REPORTED_SERVER_ARGS = (
    "dtype",
    "quantization",
    "kv_cache_dtype",
    "mem_fraction_static",
    "max_running_requests",
    "max_total_tokens",
    "chunked_prefill_size",
    "max_prefill_tokens",
    "disable_radix_cache",
    "tp_size",
    "pp_size",
    "attention_backend",
    "prefill_attention_backend",
    "decode_attention_backend",
    "sampling_backend",
    "disable_cuda_graph",
    "disable_decode_cuda_graph",
    "disable_prefill_cuda_graph",
    "cuda_graph_max_bs",
    "cuda_graph_max_bs_decode",
    "cuda_graph_max_bs_prefill",
    "page_size",
    "context_length",
    "random_seed",
    "schedule_policy",
    "disable_overlap_schedule",
    "grammar_backend",
    "speculative_algorithm",
    "speculative_draft_model_path",
    "speculative_num_steps",
    "speculative_eagle_topk",
    "speculative_num_draft_tokens",
)

# What the scheduler adds beside its arguments, kept as it is.
_SCHEDULER_EXTRAS = ("max_total_num_tokens", "effective_max_running_requests_per_dp", "memory_usage")


def scheduler_resolved(info: Optional[dict]) -> dict:
    """The first data-parallel rank's resolved arguments from a server-info answer; {} where it has none."""
    states = (info or {}).get("internal_states")
    if isinstance(states, list) and states and isinstance(states[0], dict):
        return states[0]
    return {}


def read_server_info(info: Any) -> dict:
    """The reported settings as the scheduler resolved them (the requesting side's value where the
    scheduler's answer lacks the key), what the scheduler sized, the version, and where each came from."""
    if not isinstance(info, dict):
        return {"reason": f"the server-info answer is not a JSON object but {type(info).__name__}"}
    scheduler = scheduler_resolved(info)
    settings = {}
    for key in REPORTED_SERVER_ARGS:
        if key in scheduler:
            settings[key] = scheduler[key]
        elif key in info:
            settings[key] = info[key]
    extras = {key: scheduler.get(key, info.get(key)) for key in _SCHEDULER_EXTRAS if key in scheduler or key in info}
    return {
        "settings": settings,
        **extras,
        "version": info.get("version"),
        "resolved_by": (
            f"the scheduler (internal_states[0] of {len(info['internal_states'])} data-parallel rank(s))"
            if scheduler
            else "the server's own arguments (the answer has no internal_states: an unresolved null may remain)"
        ),
    }

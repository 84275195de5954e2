"""From llem's settings to SGLang's keyword arguments: pure functions, no SGLang import.

`engine_kwargs` feeds `sglang.Engine(**kwargs)` (ServerArgs fields); `sampling_params` is the
dict SGLang's Engine.generate takes (fields of sglang.srt.sampling.sampling_params.SamplingParams).
"""

from __future__ import annotations

import json

from llem.backends.sglang.serverargs import has_phase_cuda_graph_flags

# Typed settings that are llem's own, not ServerArgs fields (disable_cuda_graph: see cuda_graph_kwargs).
LLEM_ONLY = ("name", "batching", "engine_kwargs", "disable_cuda_graph")
# Typed settings passed only when set, so that SGLang's own defaults stay in force otherwise.
WHEN_SET = (
    "quantization",
    "mem_fraction_static",
    "chunked_prefill_size",
    "max_prefill_tokens",
    "attention_backend",
    "page_size",
    "speculative_algorithm",
    "speculative_draft_model_path",
    "speculative_num_steps",
    "speculative_eagle_topk",
    "speculative_num_draft_tokens",
)
PHASE_FLAGS = ("disable_decode_cuda_graph", "disable_prefill_cuda_graph")


def cuda_graph_kwargs(settings: dict, phase_flags: bool = True) -> dict:
    """The CUDA-graph ServerArgs for these settings, only those set: the per-phase flags (SGLang 0.5.1x on;
    disable_cuda_graph sets both unless one is given itself), or, for a release without them
    (phase_flags=False), the single deprecated disable_cuda_graph."""
    both = settings["disable_cuda_graph"]
    wanted = {k: settings[k] if settings[k] is not None else both for k in PHASE_FLAGS}
    wanted = {k: v for k, v in wanted.items() if v is not None}
    if phase_flags or not wanted:
        return wanted
    return {"disable_cuda_graph": any(wanted.values())}


def engine_kwargs(
    spec,
    model_path: str | None = None,
    tokenizer_path: str | None = None,
    load_format: str = "auto",
    phase_flags: bool | None = None,
) -> dict:
    """Keyword arguments for sglang.Engine(...); model_path defaults to the model id (hub models).
    phase_flags: whether this SGLang has per-phase CUDA-graph flags (None: read from the installed one)."""
    s, w, m = spec.backend, spec.workload, spec.model
    kw = {
        "model_path": model_path or m.id,
        "load_format": load_format,
        "revision": m.revision,
        "trust_remote_code": m.trust_remote_code,
        "dtype": s["dtype"],
        "kv_cache_dtype": s["kv_cache_dtype"],
        "max_running_requests": s["max_running_requests"] or w.batch_size,
        "context_length": s["context_length"] or (w.input_tokens + w.output_tokens),
        "disable_radix_cache": s["disable_radix_cache"],
        "tp_size": s["tp_size"],
        "pp_size": s["pp_size"],
        "random_seed": s["random_seed"],
        "log_level": s["log_level"],
    }
    if tokenizer_path:
        kw["tokenizer_path"] = tokenizer_path
    for key in WHEN_SET:
        if s[key] is not None:
            kw[key] = s[key]
    if phase_flags is None:
        phase_flags = has_phase_cuda_graph_flags()
    kw.update(cuda_graph_kwargs(s, phase_flags))
    kw.update(s["engine_kwargs"])
    return kw


def sampling_params(spec, schema: dict | None = None) -> dict:
    """Exactly workload.output_tokens new tokens per request: EOS ignored, minimum = maximum. With a JSON schema
    (structured output): at most that many, constrained to the schema (`json_schema`, a JSON string), ending where
    the object ends."""
    w = spec.workload
    n = w.output_tokens
    params = {"max_new_tokens": n, "min_new_tokens": n, "ignore_eos": True}
    if schema is not None:
        params = {"max_new_tokens": n, "json_schema": json.dumps(schema)}
    if w.sampling.temperature > 0:
        params.update(temperature=w.sampling.temperature, top_p=w.sampling.top_p, top_k=w.sampling.top_k or -1)
    else:
        params["temperature"] = 0.0  # SGLang treats temperature 0 as greedy (top_k=1)
    return params

"""From llem's settings to vLLM's keyword arguments: pure functions, no vLLM import."""

from __future__ import annotations

# Typed settings that are llem's own, not vLLM EngineArgs fields.
LLEM_ONLY = ("name", "batching", "cpu_kvcache_space_gib", "engine_kwargs")
# Typed settings passed only when set, so that vLLM's own defaults stay in force otherwise.
WHEN_SET = (
    "max_num_batched_tokens",
    "enable_prefix_caching",
    "enable_chunked_prefill",
    "block_size",
    "quantization",
    "speculative_config",
    "gpu_memory_utilization",
    "enforce_eager",
)


def engine_kwargs(spec, source) -> dict:
    """Keyword arguments for vllm.LLM(...) for this job; `source` is a llem.models.source.ModelSource."""
    s, w, m = spec.backend, spec.workload, spec.model
    kw = {
        "model": source.model,
        "load_format": source.load_format,
        "revision": m.revision,
        "trust_remote_code": m.trust_remote_code,
        "dtype": s["dtype"],
        "seed": s["seed"],
        "max_num_seqs": s["max_num_seqs"] or w.batch_size,
        "max_model_len": s["max_model_len"] or (w.input_tokens + w.output_tokens),
        "kv_cache_dtype": s["kv_cache_dtype"],
        "tensor_parallel_size": s["tensor_parallel_size"],
        "pipeline_parallel_size": s["pipeline_parallel_size"],
    }
    if source.tokenizer:
        kw["tokenizer"] = source.tokenizer
    for key in WHEN_SET:
        if s[key] is not None:
            kw[key] = s[key]
    kw.update(s["engine_kwargs"])
    return kw


def sampling_kwargs(spec, schema: dict | None = None) -> dict:
    """Keyword arguments for vllm.SamplingParams: exactly workload.output_tokens new tokens per request; with a JSON
    schema (structured output) at most that many, the output constrained to it (the backend makes
    `structured_outputs` a StructuredOutputsParams) and ending where its object ends."""
    w = spec.workload
    n = w.output_tokens
    kw = {"max_tokens": n, "min_tokens": n, "ignore_eos": True}
    if schema is not None:
        kw = {"max_tokens": n, "structured_outputs": {"json": schema}}
    if w.sampling.temperature > 0:
        kw.update(temperature=w.sampling.temperature, top_p=w.sampling.top_p, top_k=w.sampling.top_k or -1)
    else:
        kw.update(temperature=0.0)  # greedy
    return kw

"""From llem's settings to TensorRT-LLM's LLM API arguments: pure functions, no TensorRT-LLM import.

The dicts become `BuildConfig(**build_settings)`, `KvCacheConfig(**kv_cache_settings)`,
`QuantConfig(quant_algo=QuantAlgo[...], kv_cache_quant_algo=QuantAlgo[...])`,
`SamplingParams(**sampling_kwargs)` and `LLM(**llm_kwargs, ...)` in backend.py.
"""

from __future__ import annotations

import hashlib
import json
from typing import Optional

from llem.backends.tensorrt.config import quant_algo

ENGINE_CACHE_VERSION = 2  # 2: the key covers engine_kwargs, enable_chunked_prefill and the weights' load format


def build_settings(spec) -> dict:
    """BuildConfig fields: the engine's shape limits, derived from the workload unless set."""
    s, w = spec.backend, spec.workload
    build = {
        "max_batch_size": s["max_batch_size"] or w.batch_size,
        "max_input_len": s["max_input_len"] or w.input_tokens,
        "max_seq_len": s["max_seq_len"] or (w.input_tokens + w.output_tokens),
    }
    if s["max_num_tokens"] is not None:
        build["max_num_tokens"] = s["max_num_tokens"]
    build.update(s["build_kwargs"])
    return build


def kv_cache_settings(spec) -> dict:
    """KvCacheConfig fields that are set; the rest stay TensorRT-LLM's defaults."""
    s = spec.backend
    kv = {k: s[k] for k in ("free_gpu_memory_fraction", "enable_block_reuse") if s[k] is not None}
    if s["runtime"] == "pytorch" and s["kv_cache_quantization"]:
        kv["dtype"] = s["kv_cache_quantization"].lower()  # the PyTorch runtime sets the KV-cache dtype here
    return kv


def quant_settings(spec) -> Optional[dict]:
    """QuantAlgo member names for QuantConfig (runtime=trt), or None for no quantisation."""
    s = spec.backend
    if s["runtime"] != "trt" or (s["quantization"] is None and s["kv_cache_quantization"] is None):
        return None
    return {"quant_algo": quant_algo(s["quantization"]), "kv_cache_quant_algo": s["kv_cache_quantization"]}


def llm_kwargs(spec, model: str, tokenizer: Optional[str], load_format: str = "auto") -> dict:
    """Plain LLM(...) arguments (the config objects are added by the backend)."""
    s, m = spec.backend, spec.model
    kw = {
        "model": model,
        "dtype": s["dtype"],
        "tensor_parallel_size": s["tensor_parallel_size"],
        "pipeline_parallel_size": s["pipeline_parallel_size"],
        "trust_remote_code": m.trust_remote_code,
    }
    if tokenizer:
        kw["tokenizer"] = tokenizer
    if m.revision:
        kw["revision"] = m.revision
    if load_format != "auto":
        kw["load_format"] = load_format
    if s["enable_chunked_prefill"] is not None:
        kw["enable_chunked_prefill"] = s["enable_chunked_prefill"]
    if s["runtime"] == "pytorch":  # no engine to build: the limits are runtime arguments
        kw.update(build_settings(spec))
    kw.update(s["engine_kwargs"])
    return kw


def sampling_kwargs(spec) -> dict:
    """SamplingParams fields: exactly workload.output_tokens new tokens per request."""
    w = spec.workload
    n = w.output_tokens
    kw = {"max_tokens": n, "min_tokens": n, "ignore_eos": True}
    if w.sampling.temperature > 0:
        kw.update(temperature=w.sampling.temperature, top_p=w.sampling.top_p, seed=w.seed)
        if w.sampling.top_k:
            kw["top_k"] = w.sampling.top_k
    else:
        kw.update(top_k=1)  # greedy
    return kw


def engine_cache_key(spec, trtllm_version: str, load_format: str = "auto") -> str:
    """Content hash of everything that shapes a built engine; equal keys can share one engine. The
    LLM(...) arguments passed through (engine_kwargs) and chunked prefill (it needs paged context
    attention in the engine) are in it; KV-cache settings are not (the runtime sizes the cache)."""
    s, m = spec.backend, spec.model
    identity = {
        "llem_engine_cache": ENGINE_CACHE_VERSION,
        "tensorrt_llm": trtllm_version,
        "model": {k: getattr(m, k) for k in ("source", "id", "revision", "weights", "arch", "seed", "tokenizer")},
        "dtype": s["dtype"],
        "quant": quant_settings(spec),
        "build": build_settings(spec),
        "tensor_parallel_size": s["tensor_parallel_size"],
        "pipeline_parallel_size": s["pipeline_parallel_size"],
        "enable_chunked_prefill": s["enable_chunked_prefill"],
        "engine_kwargs": s["engine_kwargs"],
        "load_format": load_format,
    }
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

"""From a JobSpec to the ServerPlan that starts its engine's server (cheap: no engine import).

A server is sized like a deployed one: its configuration is fixed and the load varies. So a plan
depends on the backend settings, the model and the hardware, and on the workload only through
context sizing (input_tokens + output_tokens, where the context length is not set): never on
the load (concurrency, request rate, arrival, num_prompts, seed, SLOs, endpoint, prompt source).
A running-batch limit left null (max_num_seqs, max_running_requests, max_batch_size) is not
passed, and the engine's own default holds; so every point of a `--multirun
workload.concurrency=1,4,16` gets the same server. Equal specs give equal plans but for the port.
"""

from __future__ import annotations

import os

from llem.errors import UserError
from llem.serving.commands import ServerPlan, llamacpp_plan, sglang_plan, trtllm_plan, vllm_plan


def plan_for(spec, device: str, port: int) -> ServerPlan:
    name = spec.backend_name
    if name == "llamacpp":
        return _llamacpp(spec, device, port)
    if name == "vllm":
        return _vllm(spec, device, port)
    if name == "sglang":
        return _sglang(spec, port)
    if name == "tensorrt":
        return _trtllm(spec, port)
    raise UserError(f"backend={name} has no server llem can start: use backend=llamacpp, vllm, sglang or tensorrt, or attach with workload.server_url=<url>.")


def _llamacpp(spec, device: str, port: int) -> ServerPlan:
    from llem.backends.llamacpp.backend import _physical_cores
    from llem.backends.llamacpp.config import context_length
    from llem.models.gguf import resolve_gguf

    s = spec.backend
    gguf, _origin = resolve_gguf(spec.model)
    layers = s["n_gpu_layers"] if s["n_gpu_layers"] is not None else (-1 if device == "cuda" else 0)
    return llamacpp_plan(s, spec.workload, str(gguf), port, context_length(s, spec.workload), layers,
                         s["n_threads"] or _physical_cores())


def _vllm(spec, device: str, port: int) -> ServerPlan:
    from llem.backends.engine_models import model_source
    from llem.backends.vllm.backend import DEFAULT_CPU_KVCACHE_GIB
    from llem.backends.vllm.mapping import engine_kwargs

    s = spec.backend
    kwargs = engine_kwargs(spec, model_source(spec.model))
    if s["max_num_seqs"] is None:  # not workload.batch_size (offline's default): vLLM's own default
        del kwargs["max_num_seqs"]
    kv = None
    if device == "cpu":
        kv = s["cpu_kvcache_space_gib"] or int(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or DEFAULT_CPU_KVCACHE_GIB)
    return vllm_plan(kwargs, port, kv)


def _sglang(spec, port: int) -> ServerPlan:
    from llem.backends.engine_models import model_source
    from llem.backends.sglang.mapping import engine_kwargs

    src = model_source(spec.model)
    kwargs = engine_kwargs(spec, src.model, src.tokenizer, src.load_format)
    if spec.backend["max_running_requests"] is None:  # SGLang's own default
        del kwargs["max_running_requests"]
    return sglang_plan(kwargs, port)


def _trtllm(spec, port: int) -> ServerPlan:
    from llem.backends.engine_models import model_source

    s, w = spec.backend, spec.workload
    src = model_source(spec.model)
    return trtllm_plan(src.model, port, s["runtime"], s["max_batch_size"],  # None: trtllm-serve's default
                       s["max_seq_len"] or (w.input_tokens + w.output_tokens), s["max_num_tokens"],
                       s["tensor_parallel_size"], s["pipeline_parallel_size"], s["free_gpu_memory_fraction"],
                       src.tokenizer, spec.model.trust_remote_code)

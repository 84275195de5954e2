"""Command lines that start each engine's OpenAI-compatible server: pure functions, no engine import.

Every server listens on 127.0.0.1 only. A ServerPlan says how to start one, which extra
environment it needs and which path answers once it is ready.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

LOOPBACK = "127.0.0.1"
TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.6"


@dataclass(frozen=True)
class ServerPlan:
    engine: str  # label, e.g. "llama.cpp server"
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)  # added to the parent's environment
    ready_path: str = "/v1/models"  # GET answers 200 once the model is loaded
    # Request fields that make every request produce exactly max_tokens tokens on this server.
    fixed_length: tuple[str, ...] = ("min_tokens", "ignore_eos")
    # Extra request fields, e.g. vLLM's return_token_ids: a streamed chunk may merge several tokens.
    request_extras: dict = field(default_factory=dict)
    # The chat request field(s) that cap the answer at workload.output_tokens (max_tokens is deprecated
    # there in OpenAI's API and vLLM's). The default, both, is for an attached server of unknown kind.
    chat_length_fields: tuple[str, ...] = ("max_tokens", "max_completion_tokens")

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def _flags(kwargs: dict[str, Any], style: str = "dash", negatable: bool = True) -> list[str]:
    """{"max_num_seqs": 4, "enforce_eager": True} -> ["--max-num-seqs", "4", "--enforce-eager"].

    style: "dash" (vLLM, SGLang) or "underscore" (trtllm-serve, llama.cpp's server); None values are
    left out; False becomes --no-<flag> where the parser is negatable, else it is left out."""
    out = []
    for key, value in kwargs.items():
        if value is None:
            continue
        flag = "--" + (key.replace("_", "-") if style == "dash" else key)
        if isinstance(value, bool):
            if value:
                out.append(flag)
            elif negatable:
                out.append("--no-" + flag[2:])
            continue
        out += [flag, json.dumps(value) if isinstance(value, (dict, list)) else str(value)]
    return out


# llama-cpp-python's server fills fields a request leaves out with its own defaults: repeat_penalty 1.1
# (applied before greedy picking, so temperature 0 is not greedy there), top_k 40, min_p 0.05. These
# turn them off, as the offline backend and the other servers sample (workload.sampling's top_k/top_p
# still override when temperature > 0).
LLAMACPP_NEUTRAL_SAMPLING = {"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0}


def llamacpp_plan(settings: dict, workload, gguf_path: str, port: int, n_ctx: int,
                  n_gpu_layers: int, n_threads: int, python: Optional[str] = None) -> ServerPlan:
    """llama-cpp-python's server (python -m llama_cpp.server); its flags are ModelSettings/ServerSettings fields."""
    from llem.backends.llamacpp.config import KV_CACHE_TYPES

    model = {
        "model": gguf_path,
        "n_ctx": n_ctx,
        "n_gpu_layers": n_gpu_layers,
        "n_batch": settings["n_batch"],
        "n_ubatch": settings["n_ubatch"],
        "n_threads": n_threads,
        "n_threads_batch": settings["n_threads_batch"] or n_threads,
        "flash_attn": settings["flash_attn"],
        "use_mmap": settings["use_mmap"],
        "seed": settings["seed"],
        "type_k": KV_CACHE_TYPES[settings["type_k"]] if settings["type_k"] else None,
        "type_v": KV_CACHE_TYPES[settings["type_v"]] if settings["type_v"] else None,
        "verbose": False,
    }
    server = {"host": LOOPBACK, "port": port,
              # true (its default) aborts a streaming request whenever another one waits: wrong under load
              "interrupt_requests": False}
    argv = [python or sys.executable, "-m", "llama_cpp.server"]
    for key, value in {**model, **server}.items():
        if value is not None:  # its argparse takes booleans as values: --flash_attn False
            argv += [f"--{key}", str(value)]
    # min_tokens suppresses EOS until max_tokens; the server has no ignore_eos field.
    return ServerPlan("llama.cpp server (llama-cpp-python)", argv, port, fixed_length=("min_tokens",),
                      request_extras=dict(LLAMACPP_NEUTRAL_SAMPLING), chat_length_fields=("max_tokens",))


def vllm_plan(engine_kwargs: dict, port: int, cpu_kvcache_gib: Optional[int] = None,
              python: Optional[str] = None) -> ServerPlan:
    """vLLM's OpenAI server; engine_kwargs are vllm.LLM(...) keyword arguments (EngineArgs fields)."""
    kwargs = dict(engine_kwargs)
    model = kwargs.pop("model")
    argv = [python or sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
            "--host", LOOPBACK, "--port", str(port)]
    env = {"VLLM_CPU_KVCACHE_SPACE": str(cpu_kvcache_gib)} if cpu_kvcache_gib else {}
    return ServerPlan("vLLM OpenAI server", argv + _flags(kwargs), port, env=env, ready_path="/health",
                      request_extras={"return_token_ids": True}, chat_length_fields=("max_completion_tokens",))


def sglang_plan(engine_kwargs: dict, port: int, python: Optional[str] = None) -> ServerPlan:
    """SGLang's server; engine_kwargs are ServerArgs fields (as for sglang.Engine). Its boolean
    flags are store_true, so False is simply left out."""
    kwargs = dict(engine_kwargs)
    model = kwargs.pop("model_path")
    argv = [python or sys.executable, "-m", "sglang.launch_server", "--model-path", model,
            "--host", LOOPBACK, "--port", str(port)]
    return ServerPlan("SGLang server", argv + _flags(kwargs, negatable=False), port, ready_path="/health",
                      chat_length_fields=("max_completion_tokens",))


def trtllm_plan(model: str, port: int, runtime: str, max_batch_size: Optional[int], max_seq_len: int,
                max_num_tokens: Optional[int] = None, tp_size: int = 1, pp_size: int = 1,
                free_gpu_memory_fraction: Optional[float] = None, tokenizer: Optional[str] = None,
                trust_remote_code: bool = False) -> ServerPlan:
    """TensorRT-LLM's trtllm-serve (runtime 'pytorch' or 'trt' -> --backend pytorch | tensorrt)."""
    opts = {
        "tokenizer": tokenizer,
        "backend": "pytorch" if runtime == "pytorch" else "tensorrt",
        "max_batch_size": max_batch_size,
        "max_num_tokens": max_num_tokens,
        "max_seq_len": max_seq_len,
        "tp_size": tp_size,
        "pp_size": pp_size,
        "kv_cache_free_gpu_memory_fraction": free_gpu_memory_fraction,
        "trust_remote_code": trust_remote_code,
    }
    argv = ["trtllm-serve", model, "--host", LOOPBACK, "--port", str(port)] + _flags(opts, "underscore", negatable=False)
    return ServerPlan("TensorRT-LLM trtllm-serve", argv, port, ready_path="/health",
                      chat_length_fields=("max_completion_tokens",))


def tgi_plan(model_id: str, port: int, max_concurrent_requests: int, max_input_tokens: int,
             max_total_tokens: int, gpus: list[int], models_dir: str, image: str = TGI_IMAGE,
             dtype: Optional[str] = None, name: Optional[str] = None) -> ServerPlan:
    """Hugging Face TGI in Docker, published on loopback only; weights from a host folder mounted at /data."""
    argv = ["docker", "run", "--rm", "--init", "--shm-size", "1g", "-p", f"{LOOPBACK}:{port}:80",
            "-v", f"{models_dir}:/data", "-e", "HF_HUB_OFFLINE=1"]
    if name:
        argv += ["--name", name]
    if gpus:
        argv += ["--gpus", "device=" + ",".join(str(g) for g in gpus)]
    argv += [image, "--model-id", model_id, "--max-concurrent-requests", str(max_concurrent_requests),
             "--max-input-tokens", str(max_input_tokens), "--max-total-tokens", str(max_total_tokens)]
    if dtype:
        argv += ["--dtype", dtype]
    if len(gpus) > 1:
        argv += ["--num-shard", str(len(gpus))]
    # TGI's completions take max_tokens; EOS is not suppressible there: outputs may be shorter.
    return ServerPlan("Hugging Face TGI (docker)", argv, port, ready_path="/health", fixed_length=(),
                      chat_length_fields=("max_tokens",))

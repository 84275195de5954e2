"""TensorRT-LLM's trtllm-serve: its command line from a JobSpec (no engine import)."""

from __future__ import annotations

from typing import Optional

from llem.models.source import model_source
from llem.serving.plan import LOOPBACK, ServerPlan, cli_flags


def command(
    model: str,
    port: int,
    runtime: str,
    max_batch_size: Optional[int],
    max_seq_len: int,
    max_num_tokens: Optional[int] = None,
    tp_size: int = 1,
    pp_size: int = 1,
    free_gpu_memory_fraction: Optional[float] = None,
    tokenizer: Optional[str] = None,
    trust_remote_code: bool = False,
) -> ServerPlan:
    """runtime 'pytorch' or 'trt' -> --backend pytorch | tensorrt."""
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
    argv = ["trtllm-serve", model, "--host", LOOPBACK, "--port", str(port)] + cli_flags(opts, "underscore", negatable=False)
    return ServerPlan(
        "TensorRT-LLM trtllm-serve", argv, port, ready_path="/health", chat_length_fields=("max_completion_tokens",)
    )


def server_plan(spec, device: str, port: int) -> ServerPlan:
    """The registry's entry: sizes from the backend settings, else the workload's context."""
    s, w = spec.backend, spec.workload
    src = model_source(spec.model)
    return command(
        src.model,
        port,
        s["runtime"],
        s["max_batch_size"],  # None: trtllm-serve's default
        s["max_seq_len"] or (w.input_tokens + w.output_tokens),
        s["max_num_tokens"],
        s["tensor_parallel_size"],
        s["pipeline_parallel_size"],
        s["free_gpu_memory_fraction"],
        src.tokenizer,
        spec.model.trust_remote_code,
    )

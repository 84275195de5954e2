"""vLLM's OpenAI-compatible server: its command line from a JobSpec (no engine import)."""

from __future__ import annotations

import os
import sys
from typing import Optional

from llem.backends.vllm.backend import DEFAULT_CPU_KVCACHE_GIB
from llem.backends.vllm.mapping import engine_kwargs
from llem.models.source import model_source
from llem.serving.plan import LOOPBACK, ServerPlan, cli_flags


def command(engine_kwargs: dict, port: int, cpu_kvcache_gib: Optional[int] = None,
            python: Optional[str] = None) -> ServerPlan:
    """engine_kwargs are vllm.LLM(...) keyword arguments (EngineArgs fields)."""
    kwargs = dict(engine_kwargs)
    model = kwargs.pop("model")
    argv = [python or sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
            "--host", LOOPBACK, "--port", str(port)]
    env = {"VLLM_CPU_KVCACHE_SPACE": str(cpu_kvcache_gib)} if cpu_kvcache_gib else {}
    return ServerPlan("vLLM OpenAI server", argv + cli_flags(kwargs), port, env=env, ready_path="/health",
                      request_extras={"return_token_ids": True}, chat_length_fields=("max_completion_tokens",))


def server_plan(spec, device: str, port: int) -> ServerPlan:
    """The registry's entry: the offline mapping's engine arguments, sized like a deployed server."""
    s = spec.backend
    kwargs = engine_kwargs(spec, model_source(spec.model))
    if s["max_num_seqs"] is None:  # not workload.batch_size (offline's default): vLLM's own default
        del kwargs["max_num_seqs"]
    kv = None
    if device == "cpu":
        kv = s["cpu_kvcache_space_gib"] or int(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or DEFAULT_CPU_KVCACHE_GIB)
    return command(kwargs, port, kv)

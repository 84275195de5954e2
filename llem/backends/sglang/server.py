"""SGLang's OpenAI-compatible server: its command line from a JobSpec (no engine import)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from llem.backends.installed_files import package_file
from llem.backends.sglang.mapping import engine_kwargs
from llem.backends.sglang.server_info import INFO_PATHS, read_server_info
from llem.models.source import model_source
from llem.serving.plan import LOOPBACK, ServerPlan, cli_flags


def serve_cli(python: Optional[str] = None) -> Optional[list[str]]:
    """["<bin>/sglang", "serve", "--model-type", "llm"] where the installed SGLang has `sglang serve`
    with --model-type (0.5.1x on; llm: no probe of the model's kind, which would ask the Hub for a
    model id) and its script sits beside this Python; None: only python -m sglang.launch_server."""
    cli = package_file("sglang", "cli/serve.py")
    script = Path(python or sys.executable).parent / "sglang"
    if cli is None or not script.is_file() or "--model-type" not in cli.read_text(encoding="utf-8", errors="replace"):
        return None
    return [str(script), "serve", "--model-type", "llm"]


def command(engine_kwargs: dict, port: int, python: Optional[str] = None, entry: Optional[list[str]] = None) -> ServerPlan:
    """engine_kwargs are ServerArgs fields (as for sglang.Engine). Its boolean flags are
    store_true, so False is simply left out. entry: serve_cli()'s command, else the legacy module."""
    kwargs = dict(engine_kwargs)
    model = kwargs.pop("model_path")
    head = entry or [python or sys.executable, "-m", "sglang.launch_server"]
    argv = head + ["--model-path", model, "--host", LOOPBACK, "--port", str(port)]
    return ServerPlan(
        "SGLang server",
        argv + cli_flags(kwargs, negatable=False),
        port,
        ready_path="/health",
        chat_length_fields=("max_completion_tokens",),
        cache_reset_path="/flush_cache",
        info_paths=INFO_PATHS,
        read_info=read_server_info,
    )


def server_plan(spec, device: str, port: int) -> ServerPlan:
    """The registry's entry: the offline mapping's ServerArgs, the running batch left to SGLang."""
    src = model_source(spec.model)
    kwargs = engine_kwargs(spec, src.model, src.tokenizer, src.load_format)
    if spec.backend["max_running_requests"] is None:  # SGLang's own default
        del kwargs["max_running_requests"]
    return command(kwargs, port, entry=serve_cli())

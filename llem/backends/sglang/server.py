"""SGLang's OpenAI-compatible server: its command line from a JobSpec (no engine import)."""

from __future__ import annotations

import sys
from typing import Optional

from llem.backends.sglang.mapping import engine_kwargs
from llem.models.source import model_source
from llem.serving.plan import LOOPBACK, ServerPlan, cli_flags


def command(engine_kwargs: dict, port: int, python: Optional[str] = None) -> ServerPlan:
    """engine_kwargs are ServerArgs fields (as for sglang.Engine). Its boolean flags are
    store_true, so False is simply left out."""
    kwargs = dict(engine_kwargs)
    model = kwargs.pop("model_path")
    argv = [python or sys.executable, "-m", "sglang.launch_server", "--model-path", model,
            "--host", LOOPBACK, "--port", str(port)]
    return ServerPlan("SGLang server", argv + cli_flags(kwargs, negatable=False), port, ready_path="/health",
                      chat_length_fields=("max_completion_tokens",))


def server_plan(spec, device: str, port: int) -> ServerPlan:
    """The registry's entry: the offline mapping's ServerArgs, the running batch left to SGLang."""
    src = model_source(spec.model)
    kwargs = engine_kwargs(spec, src.model, src.tokenizer, src.load_format)
    if spec.backend["max_running_requests"] is None:  # SGLang's own default
        del kwargs["max_running_requests"]
    return command(kwargs, port)

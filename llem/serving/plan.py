"""How to start a server, whatever the engine: ServerPlan, the loopback address, the flag helper,
and plan_for, which asks the engine's own folder (through the registry) for its plan.

Each engine's command line lives in llem/backends/<name>/server.py; nothing here knows one.

A server is sized like a deployed one: its configuration is fixed and the load varies. So a plan
depends on the backend settings, the model and the hardware, and on the workload only through
context sizing (input_tokens + output_tokens, where the context length is not set): never on
the load (concurrency, request rate, arrival, num_prompts, seed, SLOs, endpoint, prompt source).
A running-batch limit left null (max_num_seqs, max_running_requests, max_batch_size) is not
passed, and the engine's own default holds; so every point of a `--multirun
workload.concurrency=1,4,16` gets the same server. The one exception: llama.cpp's llama-server
partitions its KV cache into slots fixed at start, and with backend.slots null gets one per request
in flight (workload.concurrency). Equal specs give equal plans but for the port.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from llem.registry import backend_info, load_object, no_server
from llem.results.speculative import readout_for as speculative_readout
from llem.workload.prefix_cache import readout_for

LOOPBACK = "127.0.0.1"  # every server llem starts listens here only


@dataclass(frozen=True)
class ServerPlan:
    engine: str  # label, e.g. "llama.cpp server"
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)  # added to the parent's environment
    ready_path: str = "/v1/models"  # GET answers 200 once the model is loaded
    # Request fields that make every request produce exactly max_tokens tokens on this server: min_tokens
    # and ignore_eos are filled in per job; others (llama.cpp's logit_bias) are in request_extras.
    fixed_length: tuple[str, ...] = ("min_tokens", "ignore_eos")
    # Extra request fields, e.g. vLLM's return_token_ids: a streamed chunk may merge several tokens.
    request_extras: dict = field(default_factory=dict)
    # Fields added to greedy requests (workload.sampling.temperature 0) that are not structured output: the
    # engine's cheapest way to the same argmax, e.g. llama-server's top_k 1 (llem/backends/llamacpp/llama_server.py).
    greedy_extras: dict = field(default_factory=dict)
    # The chat request field(s) that cap the answer at workload.output_tokens (max_tokens is deprecated
    # there in OpenAI's API and vLLM's). The default, both, is for an attached server of unknown kind.
    chat_length_fields: tuple[str, ...] = ("max_tokens", "max_completion_tokens")
    # POST path that empties the engine's prefix cache before each measured run (None: none), and what
    # llem knows of the cache where there is no such path (recorded per run).
    cache_reset_path: Optional[str] = None
    # False: the server ends a connection after each streamed response though it answers keep-alive
    # (llama-server), so the client opens one per request instead of reusing a connection it closed
    reuse_connections: bool = True
    cache_note: str = "this server's prefix cache (if any) is not reset by llem"
    # The engine's reader of its own log once the server is up (its folder's knowledge), e.g. llama-server's
    # weights per buffer type: {"on_gpu": bool or None, ...}; recorded, and on_gpu False on a CUDA job is flagged.
    read_log: Optional[Callable[[str], dict]] = None
    # GET paths where the server says what it resolved (tried in order, the first that answers 200 is read)
    # and the engine's reader of that JSON (its folder's knowledge, e.g. SGLang's scheduler-resolved
    # attention backend): recorded as effective_settings.from_server_info (llem/serving/server_info.py).
    info_paths: tuple[str, ...] = ()
    read_info: Optional[Callable[[Any], dict]] = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


def cli_flags(kwargs: dict[str, Any], style: str = "dash", negatable: bool = True) -> list[str]:
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


def plan_for(spec, device: str, port: int) -> ServerPlan:
    """The plan that starts spec's engine on `port`: its Engine's server entry, its telemetry off first (the
    server inherits this process's environment)."""
    info = backend_info(spec.backend_name)
    if info.server is None:
        raise no_server(info.name)  # validation says so first (llem/workload/server_checks.py)
    info.opt_out(os.environ)
    plan = load_object(info.server)(spec, device, port)
    extra: list[str] = []
    readout = readout_for(spec)  # flags the server needs to report cached prompt tokens (docs/workloads.md)
    if readout is not None:
        extra += readout.server_args
    speculative = speculative_readout(spec)  # and speculative-decoding counts, where configured
    if speculative is not None:
        extra += [a for a in speculative.server_args if a not in plan.argv + extra]
    return dataclasses.replace(plan, argv=plan.argv + extra) if extra else plan

"""The llama.cpp servers llem starts: llama-cpp-python's OpenAI-compatible server (python -m
llama_cpp.server, backend.server=python; its command line here: pure functions, no engine import; its
flags are ModelSettings/ServerSettings fields) or llama.cpp's own llama-server (backend.server=
llama-server, llama_server.py)."""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from llem.backends.llamacpp import llama_server, vocab
from llem.backends.llamacpp.config import KV_CACHE_TYPES, context_length
from llem.backends.llamacpp.threads import physical_cores
from llem.backends.llamacpp.gguf import resolve_gguf
from llem.serving.plan import LOOPBACK, ServerPlan

# llama-cpp-python's server fills fields a request leaves out with its own defaults: repeat_penalty 1.1
# (applied before greedy picking, so temperature 0 is not greedy there), top_k 40, top_p 0.95, min_p 0.05.
# These turn them off, as the offline backend and the other servers sample (workload.sampling's top_k/top_p
# still override when temperature > 0). top_p 1.0 is llama-server's fix (llama_server.py); sent here too so
# that both servers get the same request, though this one picks greedily at temperature 0 without top-p.
NEUTRAL_SAMPLING = {"repeat_penalty": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
# The bias that keeps an end-of-generation token from being picked. Finite, because the request body is
# kept in result.json and JSON has no infinity; the server adds it to a float32 logit, so that token's
# probability is exactly 0 at any temperature.
EOG_BIAS = -1e9


def command(
    settings: dict,
    workload,
    gguf_path: str,
    port: int,
    n_ctx: int,
    n_gpu_layers: int,
    n_threads: int,
    python: Optional[str] = None,
    eog_ids: Sequence[int] = (),
) -> ServerPlan:
    """The server's plan from backend settings and resolved sizes. eog_ids: the GGUF's
    end-of-generation tokens (vocab.eog_ids), biased away in every request."""
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
        # As offline: logits for the last position only (its default, True, keeps n_vocab logits per prompt token).
        "logits_all": False,
        "verbose": False,
    }
    server = {
        "host": LOOPBACK,
        "port": port,
        # true (its default) aborts a streaming request whenever another one waits: wrong under load
        "interrupt_requests": False,
    }
    argv = [python or sys.executable, "-m", "llama_cpp.server"]
    for key, value in {**model, **server}.items():
        if value is not None:  # its argparse takes booleans as values: --flash_attn False
            argv += [f"--{key}", str(value)]
    # The server has no ignore_eos field and stops at any end-of-generation token; min_tokens blocks only
    # token_eos(). So every EOG id gets the bias instead (as the offline backend's sampler chain does), and
    # min_tokens is then left out: llama-cpp-python (0.3.16 to 0.3.36, Llama._create_completion) drops both
    # logits processors when a request has min_tokens and logit_bias (logits_processor.extend() is None).
    extras, fixed = dict(NEUTRAL_SAMPLING), ("min_tokens",)
    if eog_ids:
        extras.update(logit_bias={str(t): EOG_BIAS for t in eog_ids}, logit_bias_type="input_ids")
        fixed = ("logit_bias",)
    return ServerPlan(
        "llama.cpp server (llama-cpp-python)",
        argv,
        port,
        fixed_length=fixed,
        request_extras=extras,
        chat_length_fields=("max_tokens",),
        cache_note="no reset endpoint; llama-cpp-python keeps the previous request's KV and "
        "reuses its longest common prefix with the next prompt (Llama.generate), so "
        "requests sharing a prefix with the one before them prefill only the rest",
    )


def server_plan(spec, device: str, port: int) -> ServerPlan:
    """The registry's entry: the GGUF resolved (converted where llem builds it), layers by device."""
    s = spec.backend
    layers = s["n_gpu_layers"] if s["n_gpu_layers"] is not None else (-1 if device == "cuda" else 0)
    if s["server"] == "llama-server":
        exe = llama_server.binary()  # before the GGUF is resolved: a missing binary is the user's to fix first
        gguf, _origin = resolve_gguf(spec.model)
        return llama_server.command(
            s,
            str(gguf),
            port,
            context_length(s, spec.workload),
            layers,
            s["n_threads"] or physical_cores(),
            s["slots"] or spec.workload.concurrency,
            exe,
        )
    gguf, _origin = resolve_gguf(spec.model)
    return command(
        s,
        spec.workload,
        str(gguf),
        port,
        context_length(s, spec.workload),
        layers,
        s["n_threads"] or physical_cores(),
        eog_ids=vocab.eog_ids(str(gguf)),
    )

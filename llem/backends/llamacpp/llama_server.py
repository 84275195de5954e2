"""llama.cpp's own server (`llama-server`), built from the llama.cpp that llama-cpp-python vendors
(.ci/install.d/30-llamacpp.sh), as backend.server=llama-server: its command line from a JobSpec.

It runs `backend.slots` parallel slots (null: workload.concurrency, so every request in flight has
one) with continuous batching, each slot a sequence of its own in one llama.cpp batch, as the offline
backend batches. Its context is slots x the per-sequence context (non-unified KV cache: each slot
gets n_ctx / slots). `--metrics` exports its own counters (llem/serving/engine_metrics.py reads them).
Every request carries ignore_eos (the server biases every end-of-generation token away, as the
offline sampler chain does) and neutral sampling defaults. Pure functions apart from locating the
binary and asking it its version; no engine import.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

from llem.backends.llamacpp.config import DRAFT_IS_TARGET
from llem.errors import UserError
from llem.serving.plan import LOOPBACK, ServerPlan

# llama-server fills fields a request leaves out with its own sampling defaults (top_k 40, top_p 0.95,
# min_p 0.05); these turn them off, as the offline backend samples (workload.sampling's top_k/top_p
# override them when temperature > 0). top_p matters for speed, not for the tokens: its sampler runs before
# the temperature-0 pick and, without top_k, sorts the whole vocabulary on the CPU for every sequence of
# every step whenever the 256 likeliest tokens fall short of p, which they always do under random
# weights' flat logits (measured on a GPU: docs/measurements.md; benchmarks/llama_server_step.py, variant top-p-0.95). At 1.0 it
# returns at once.
NEUTRAL_SAMPLING = {"top_k": 0, "top_p": 1.0, "min_p": 0.0, "repeat_penalty": 1.0}
# A greedy request wants the argmax, which top_k 0 still reaches through the whole chain: llama-server builds
# every slot's candidate list over the full vocabulary and its temperature-0 step and final `dist` sampler each
# pass over all of it, on the CPU, slot after slot (128,256 candidates for Llama 3). top_k 1 keeps the likeliest
# token in one pass and the rest of the chain sees one candidate: the same token, less host time per step
# (what it saves: benchmarks/llama_server_step.py, docs/benchmarks.md).
GREEDY_SAMPLING = {"top_k": 1}
INSTALL = "bash .ci/install.d/30-llamacpp.sh"


def binary() -> str:
    """The llama-server to run: LLEM_LLAMA_SERVER, else the one installed beside this Python, else PATH."""
    named = os.environ.get("LLEM_LLAMA_SERVER")
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            raise UserError(
                f"LLEM_LLAMA_SERVER={named} is not an executable file: point it at a llama-server binary or unset it."
            )
        return named
    beside = Path(sys.executable).parent / "llama-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("llama-server")
    if found:
        return found
    raise UserError(
        f"backend.server=llama-server needs llama.cpp's llama-server, which is not installed here: run {INSTALL} "
        f"(it builds it from the llama.cpp that llama-cpp-python vendors), or set backend.server=python."
    )


@lru_cache(maxsize=8)
def version(path: str) -> str:
    """`llama-server --version`'s version line, e.g. 'version: 1 (abc1234)'; where it came from, if the
    install script recorded it ('built from llama-cpp-python 0.3.36')."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        line = next((ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("version")), "version unknown")
    except (OSError, subprocess.TimeoutExpired) as exc:
        line = f"version unknown ({exc})"
    stamp = Path(path).with_name("llama-server.version")
    words = stamp.read_text(errors="replace").split() if stamp.is_file() else []
    if words and re.fullmatch(r"\d+(\.\d+)+\S*", words[0]):  # a release; anything else there is not read as one
        line += f", built from llama-cpp-python {words[0]}'s llama.cpp"
    return line


# llama-server's speculative-decoding flags (common/arg.cpp of llama-cpp-python 0.3.36's llama.cpp; its older
# --draft-max / --draft-min are removed there and refuse to start)
SPEC_FLAGS = {
    "spec_type": "--spec-type",
    "draft_model": "--spec-draft-model",
    "draft_n_max": "--spec-draft-n-max",
    "draft_n_min": "--spec-draft-n-min",
    "draft_p_min": "--spec-draft-p-min",
}


def speculative_flags(settings: dict, gguf_path: str) -> list[str]:
    """The speculative settings the job sets, as llama-server flags (none set: none passed, its defaults hold);
    draft_model=target drafts with the job's own GGUF."""
    out = []
    for key, flag in SPEC_FLAGS.items():
        value = settings.get(key)
        if value is not None:
            out += [flag, gguf_path if key == "draft_model" and value == DRAFT_IS_TARGET else str(value)]
    return out


# llem's n_gpu_layers follows the bindings: -1 offloads every layer. llama-server reads -1 as "auto" (fit
# to free memory, 0.3.36's vendored llama.cpp), which left a 1B model's layers on the CPU of a GPU machine
# (docs/measurements.md, the H100 fair run). An explicit count past any model's layers (llama.cpp offloads at most
# n_layer + 1) means "all" to this llama-server and to older ones, which reject the word "all".
ALL_LAYERS = 999


def gpu_layers_flag(n_gpu_layers: int) -> str:
    return str(ALL_LAYERS if n_gpu_layers < 0 else n_gpu_layers)


# Where the weights went is logged by the llama library while the model loads ("load_tensors: CUDA0 model
# buffer size = 2357.00 MiB", one line per buffer type), at llama-server's trace verbosity (4; its default, 3,
# leaves the library's lines out). "offloaded N/M layers" is not read: it reports the count asked for, not
# where the buffers are. Why: a slow CUDA llama-server whose default log could not say where its weights were
# (docs/measurements.md: there the cause was its sampler, which this reader let us tell apart).
LOG_VERBOSITY = "4"
_BUFFER = re.compile(r"(\S+) model buffer size = +([0-9.]+) MiB")
GPU_BUFFERS = ("CUDA", "ROCm", "Vulkan", "Metal", "SYCL", "MUSA", "CANN")


def weights_placement(log_text: str) -> dict:
    """The MiB of model weights per buffer type, read from llama-server's load log; on_gpu: any on a GPU
    buffer (None where the log has no buffer line: an older server, or another verbosity)."""
    buffers: dict[str, float] = {}
    for name, mib in _BUFFER.findall(log_text):
        buffers[name] = round(buffers.get(name, 0.0) + float(mib), 2)
    return {
        "model_buffers_mib": buffers or None,
        "on_gpu": any(n.startswith(GPU_BUFFERS) for n in buffers) if buffers else None,
        "read_from": "the server's load log: the llama library's 'model buffer size' lines",
        "reason": None
        if buffers
        else "no 'model buffer size' line in the server's log (a llama-server that logs them under another verbosity or wording)",
    }


def command(
    settings: dict,
    gguf_path: str,
    port: int,
    n_ctx_seq: int,
    n_gpu_layers: int,
    n_threads: int,
    slots: int,
    exe: Optional[str] = None,
) -> ServerPlan:
    """The plan for `slots` slots of n_ctx_seq tokens each."""
    exe = exe or binary()
    argv = [
        exe,
        "--model",
        gguf_path,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--ctx-size",
        str(n_ctx_seq * slots),
        "--parallel",
        str(slots),
        "--cont-batching",
        "--metrics",
        "--n-gpu-layers",
        gpu_layers_flag(n_gpu_layers),
        "--batch-size",
        str(settings["n_batch"]),
        "--ubatch-size",
        str(settings["n_ubatch"]),
        "--threads",
        str(n_threads),
        "--threads-batch",
        str(settings["n_threads_batch"] or n_threads),
        "--flash-attn",
        "on" if settings["flash_attn"] else "off",
        "--no-kv-unified",
        "--log-verbosity",
        LOG_VERBOSITY,
    ]
    for key, flag in (("type_k", "--cache-type-k"), ("type_v", "--cache-type-v")):
        if settings[key] is not None:
            argv += [flag, settings[key]]
    if not settings["use_mmap"]:
        argv += ["--load-mode", "none"]  # llama.cpp replaced --no-mmap with --load-mode (0.3.36's vendored source)
    argv += speculative_flags(settings, gguf_path)
    extras = dict(NEUTRAL_SAMPLING, seed=settings["seed"])
    return ServerPlan(
        f"llama.cpp llama-server ({version(exe)})",
        argv,
        port,
        ready_path="/health",
        fixed_length=("ignore_eos",),
        request_extras=extras,
        greedy_extras=dict(GREEDY_SAMPLING),
        chat_length_fields=("max_tokens",),
        # it answers "Keep-Alive: timeout=5, max=100" yet closes the connection after a streamed
        # (chunked) response (0.3.36's vendored llama.cpp): a reused one fails "Can not write request body"
        reuse_connections=False,
        read_log=weights_placement,
        cache_note="no reset endpoint; llama-server keeps each slot's KV and reuses its common prefix "
        "with the slot's next prompt (cache_prompt, its default), plus a host-memory prompt "
        "cache (--cache-ram, its default); its /metrics counts the prompt tokens so reused "
        "(engine_phases.prompt_tokens_cached)",
    )

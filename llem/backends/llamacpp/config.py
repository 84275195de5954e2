"""Settings of the llama.cpp backend (llama-cpp-python), validated before anything heavy is imported."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from llem.checks import resolve_device
from llem.errors import UserError
from llem.backends.llamacpp.gguf import check_gguf

# KV-cache element types llama.cpp accepts for type_k / type_v, with their GGML type ids (ggml.h).
KV_CACHE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "iq4_nl": 20, "bf16": 30}
# llama.cpp's LLAMA_MAX_SEQ: the most sequences one context holds (a batch, or llama-server's slots).
MAX_SEQUENCES = 256
KvType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"]

# Modules llama-cpp-python's server imports (its [server] extra).
SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")

# Llama() arguments that have their own typed setting here (or that llem controls).
_OWNED = {
    "model_path", "n_gpu_layers", "n_ctx", "n_batch", "n_ubatch", "n_threads", "n_threads_batch",
    "flash_attn", "type_k", "type_v", "use_mmap", "seed", "verbose", "logits_all",
}


class LlamaCppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["llamacpp"] = "llamacpp"
    # Layers offloaded to the GPU; -1 = all. None: all on a GPU job, 0 on hardware=cpu.
    n_gpu_layers: Optional[int] = Field(None, ge=-1)
    # Context length per sequence in tokens (the engine's context holds batch_size / slots of them).
    # None: the smallest multiple of 256 (at least 512) holding workload.input_tokens + workload.output_tokens.
    n_ctx: Optional[int] = Field(None, ge=1)
    n_batch: int = Field(512, ge=1)  # logical batch: prompt tokens submitted per llama_decode
    n_ubatch: int = Field(512, ge=1)  # physical batch: tokens computed at once
    # Threads for generation / for prompt processing. None: the physical cores this process may use
    # (llama.cpp's own default). llama.cpp's workers spin: more threads than free cores is far slower.
    n_threads: Optional[int] = Field(None, ge=1)
    n_threads_batch: Optional[int] = Field(None, ge=1)
    flash_attn: bool = False
    type_k: Optional[KvType] = None  # KV-cache quantisation; None: llama.cpp's default (f16)
    type_v: Optional[KvType] = None  # a quantised V cache needs flash_attn=true
    use_mmap: bool = True
    seed: int = 0  # sampler seed (only matters when workload.sampling.temperature > 0)
    # Further llama_cpp.Llama() keyword arguments, passed through unchanged (e.g. main_gpu,
    # split_mode, tensor_split, offload_kqv, use_mlock, rope_freq_base).
    llama_kwargs: dict[str, Any] = Field(default_factory=dict)
    # Server mode: llama-cpp-python's server (python; one request at a time) or llama.cpp's own
    # llama-server (parallel slots, continuous batching; built by .ci/install.d/30-llamacpp.sh).
    server: Literal["python", "llama-server"] = "python"
    slots: Optional[int] = Field(None, ge=1, le=MAX_SEQUENCES)  # llama-server's --parallel; None: workload.concurrency

    @classmethod
    def check(cls, spec) -> None:
        b, w = spec.backend, spec.workload
        device = resolve_device(spec.hardware.device)
        if device == "cpu" and b["n_gpu_layers"] not in (None, 0):
            raise UserError(
                f"backend.n_gpu_layers={b['n_gpu_layers']} offloads layers to a GPU, but hardware={spec.hardware.name} "
                f"runs on the CPU (and is measured there): set backend.n_gpu_layers=0 or choose a GPU hardware profile."
            )
        needed = w.input_tokens + w.output_tokens
        if b["n_ctx"] is not None and b["n_ctx"] < needed:
            raise UserError(
                f"backend.n_ctx={b['n_ctx']} cannot hold workload.input_tokens + workload.output_tokens = {needed} tokens: "
                f"raise backend.n_ctx to at least {needed} or leave it null."
            )
        if w.batch_size > min(b["n_batch"], MAX_SEQUENCES):
            limit = "backend.n_batch" if b["n_batch"] < MAX_SEQUENCES else f"llama.cpp's {MAX_SEQUENCES} sequences per context"
            raise UserError(f"workload.batch_size={w.batch_size} is more than {limit} allows: each decode step holds one token "
                            f"of every sequence in one batch; lower workload.batch_size or raise backend.n_batch.")
        if b["slots"] is not None and b["server"] != "llama-server":
            raise UserError(f"backend.slots={b['slots']} sets llama-server's parallel slots, but backend.server={b['server']}: "
                            f"set backend.server=llama-server or leave backend.slots null.")
        if b["n_ubatch"] > b["n_batch"]:
            raise UserError(f"backend.n_ubatch={b['n_ubatch']} is larger than backend.n_batch={b['n_batch']}: llama.cpp needs n_ubatch <= n_batch.")
        if b["type_v"] not in (None, "f16", "f32", "bf16") and not b["flash_attn"]:
            raise UserError(f"backend.type_v={b['type_v']} (a quantised V cache) needs backend.flash_attn=true in llama.cpp: set it, or use type_v=f16.")
        clash = sorted(set(b["llama_kwargs"]) & _OWNED)
        if clash:
            key = clash[0]
            hint = "llem sets it" if key in ("model_path", "verbose", "logits_all") else f"use backend.{key}"
            raise UserError(f"backend.llama_kwargs.{key} is not passed through: {hint} instead.")
        check_gguf(spec.model)

    @classmethod
    def check_server(cls, spec) -> None:
        """workload.mode=server with a server llem starts (llem/workload/server_checks.py asks)."""
        # backend.server=llama-server runs llama.cpp's own binary (found, or refused, when its plan is made)
        python_server = spec.backend["server"] == "python"
        missing = [m for m in SERVER_MODULES if python_server and importlib.util.find_spec(m) is None]
        if missing:
            raise UserError(f"backend=llamacpp with workload.mode=server needs llama.cpp's server, whose package '{missing[0]}' "
                            f"is not installed: run pip install 'llama-cpp-python[server]'.")
        if spec.backend["llama_kwargs"]:
            key = sorted(spec.backend["llama_kwargs"])[0]
            raise UserError(f"backend.llama_kwargs.{key} is not passed to llama.cpp's server: workload.mode=server "
                            f"supports the typed backend settings only (n_ctx, n_threads, n_gpu_layers, ...).")


def context_length(settings: dict, workload) -> int:
    """The n_ctx the engine gets: the setting, or the smallest multiple of 256 (>= 512) that fits."""
    if settings["n_ctx"] is not None:
        return settings["n_ctx"]
    needed = workload.input_tokens + workload.output_tokens
    return max(512, -(-needed // 256) * 256)

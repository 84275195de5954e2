"""Settings of the llama.cpp backend (llama-cpp-python), validated before anything heavy is imported."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from llem.host.devices import resolve_device
from llem.errors import UserError
from llem.backends.llamacpp.gguf import check_gguf

# KV-cache element types llama.cpp accepts for type_k / type_v, with their GGML type ids (ggml.h).
KV_CACHE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "iq4_nl": 20, "bf16": 30}
# llama.cpp's LLAMA_MAX_SEQ: the most sequences one context holds (a batch, or llama-server's slots).
MAX_SEQUENCES = 256
KvType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"]

# llama-server's --spec-type values (common/speculative.cpp of the llama.cpp that llama-cpp-python 0.3.36 vendors).
SPEC_TYPES = (
    "none",
    "draft-simple",
    "draft-eagle3",
    "draft-mtp",
    "draft-dflash",
    "draft-dspark",
    "ngram-simple",
    "ngram-map-k",
    "ngram-map-k4v",
    "ngram-mod",
    "ngram-cache",
)
# Types that draft with a separate draft model (--spec-draft-model); draft-mtp uses the target's own MTP head.
DRAFT_MODEL_TYPES = ("draft-simple", "draft-eagle3", "draft-dflash", "draft-dspark")
SPEC_SETTINGS = ("spec_type", "draft_model", "draft_n_max", "draft_n_min", "draft_p_min")
DRAFT_IS_TARGET = "target"  # backend.draft_model=target: the job's own GGUF drafts for itself

# Modules llama-cpp-python's server imports (its [server] extra).
SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")

# Llama() arguments that have their own typed setting here (or that llem controls).
_OWNED = {
    "model_path",
    "n_gpu_layers",
    "n_ctx",
    "n_batch",
    "n_ubatch",
    "n_threads",
    "n_threads_batch",
    "flash_attn",
    "type_k",
    "type_v",
    "use_mmap",
    "seed",
    "verbose",
    "logits_all",
}


class LlamaCppConfig(BaseModel):
    """llama.cpp through llama-cpp-python (pip install 'llem[llamacpp]'). The GGUF comes from the model config:
    model.gguf (a .gguf path, or builtin for model=tiny / model=smollm2-135m) and model.gguf_type. Offline,
    workload.batch_size requests decode together in one llama.cpp batch (a sequence id each)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Settings of llama.cpp's servers only: an offline job (the Python bindings) never applies them, so an offline
    # run's report row leaves them out (llem/report/table.py) and a value set on one is refused (offline_ignored)
    SERVER_ONLY: ClassVar[tuple[str, ...]] = ("server", "slots")

    name: Literal["llamacpp"] = "llamacpp"
    n_gpu_layers: Optional[int] = Field(
        None, ge=-1, description="layers offloaded to the GPU, -1 = all; null: all on a GPU job, 0 on hardware=cpu"
    )
    n_ctx: Optional[int] = Field(
        None,
        ge=1,
        description="context tokens per sequence (the engine's context holds batch_size, or slots, of them); null: the "
        "smallest multiple of 256 (at least 512) holding workload.input_tokens + workload.output_tokens",
    )
    n_batch: int = Field(512, ge=1, description="logical batch: prompt tokens submitted per llama_decode call")
    n_ubatch: int = Field(512, ge=1, description="physical batch: tokens computed at once (<= n_batch)")
    n_threads: Optional[int] = Field(
        None,
        ge=1,
        description="generation threads; null: the physical cores this process may use (llama.cpp's own default). "
        "llama.cpp's workers spin: more threads than free cores is far slower",
    )
    n_threads_batch: Optional[int] = Field(None, ge=1, description="prompt-processing threads; null: same as n_threads")
    flash_attn: bool = False
    type_k: Optional[KvType] = Field(None, description="KV-cache type of K; null: llama.cpp's default (f16)")
    type_v: Optional[KvType] = Field(None, description="as type_k, for V; a quantised V cache needs flash_attn: true")
    use_mmap: bool = True
    seed: int = Field(0, description="sampler seed (used when workload.sampling.temperature > 0)")
    llama_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="other llama_cpp.Llama() keyword arguments, passed through unchanged (e.g. main_gpu, split_mode, "
        "tensor_split, offload_kqv, use_mlock, rope_freq_base)",
    )
    server: Literal["python", "llama-server"] = Field(
        "python",
        description="server mode: python (llama-cpp-python's server, one request at a time) | llama-server (llama.cpp's "
        "own: parallel slots, continuous batching; built by .ci/install.d/30-llamacpp.sh)",
    )
    slots: Optional[int] = Field(
        None, ge=1, le=MAX_SEQUENCES, description="llama-server's --parallel slots; null: workload.concurrency"
    )
    spec_type: Optional[str] = Field(
        None,
        description="speculative decoding, llama-server only (server: llama-server, workload.mode=server; each spec "
        "setting is passed only when set): --spec-type, one or more of draft-simple | draft-mtp | draft-eagle3 | "
        "draft-dflash | draft-dspark | ngram-simple | ngram-mod | ... (comma-separated); null: none, unless the draft "
        "GGUF says MTP/DFlash",
    )
    draft_model: Optional[str] = Field(
        None, description="--spec-draft-model: a .gguf with the target's vocabulary, or target (the job's own GGUF)"
    )
    draft_n_max: Optional[int] = Field(
        None, ge=0, description="--spec-draft-n-max: most tokens drafted per step (llama.cpp's default 3)"
    )
    draft_n_min: Optional[int] = Field(None, ge=0, description="--spec-draft-n-min (llama.cpp's default 0)")
    draft_p_min: Optional[float] = Field(
        None, ge=0, le=1, description="--spec-draft-p-min: least draft probability to go on drafting (llama.cpp's default 0.0)"
    )

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
            raise UserError(
                f"workload.batch_size={w.batch_size} is more than {limit} allows: each decode step holds one token "
                f"of every sequence in one batch; lower workload.batch_size or raise backend.n_batch."
            )
        if b["slots"] is not None and b["server"] != "llama-server":
            raise UserError(
                f"backend.slots={b['slots']} sets llama-server's parallel slots, but backend.server={b['server']}: "
                f"set backend.server=llama-server or leave backend.slots null."
            )
        if b["n_ubatch"] > b["n_batch"]:
            raise UserError(
                f"backend.n_ubatch={b['n_ubatch']} is larger than backend.n_batch={b['n_batch']}: llama.cpp needs n_ubatch <= n_batch."
            )
        if b["type_v"] not in (None, "f16", "f32", "bf16") and not b["flash_attn"]:
            raise UserError(
                f"backend.type_v={b['type_v']} (a quantised V cache) needs backend.flash_attn=true in llama.cpp: set it, or use type_v=f16."
            )
        clash = sorted(set(b["llama_kwargs"]) & _OWNED)
        if clash:
            key = clash[0]
            hint = "llem sets it" if key in ("model_path", "verbose", "logits_all") else f"use backend.{key}"
            raise UserError(f"backend.llama_kwargs.{key} is not passed through: {hint} instead.")
        check_gguf(spec.model)
        check_speculative(spec)

    @classmethod
    def offline_ignored(cls, spec) -> list[str]:
        """Settings of llama.cpp's server that an offline job (the Python bindings) ignores
        (llem/workload/server_checks.py asks)."""
        fields = cls.model_fields
        return [f"backend.{k}={spec.backend[k]}" for k in cls.SERVER_ONLY if spec.backend[k] != fields[k].default]

    @classmethod
    def check_server(cls, spec) -> None:
        """workload.mode=server with a server llem starts (llem/workload/server_checks.py asks)."""
        # backend.server=llama-server runs llama.cpp's own binary (found, or refused, when its plan is made)
        python_server = spec.backend["server"] == "python"
        missing = [m for m in SERVER_MODULES if python_server and importlib.util.find_spec(m) is None]
        if missing:
            raise UserError(
                f"backend=llamacpp with workload.mode=server needs llama.cpp's server, whose package '{missing[0]}' "
                f"is not installed: run pip install 'llama-cpp-python[server]'."
            )
        if spec.backend["llama_kwargs"]:
            key = sorted(spec.backend["llama_kwargs"])[0]
            raise UserError(
                f"backend.llama_kwargs.{key} is not passed to llama.cpp's server: workload.mode=server "
                f"supports the typed backend settings only (n_ctx, n_threads, n_gpu_layers, ...)."
            )


def speculative_settings(settings: dict) -> dict:
    """The speculative-decoding settings the job sets (empty: none)."""
    return {k: settings[k] for k in SPEC_SETTINGS if settings[k] is not None}


def check_speculative(spec) -> None:
    """Speculative decoding runs in llama-server only, and its settings must make it draft at all."""
    b = spec.backend
    chosen = speculative_settings(b)
    if not chosen:
        return
    key = next(iter(chosen))
    named = f"backend.{key}={chosen[key]}"
    if spec.workload.mode != "server" or b["server"] != "llama-server":
        raise UserError(
            f"{named} sets speculative decoding, which llem runs through llama.cpp's llama-server only: set "
            f"workload.mode=server and backend.server=llama-server, or leave the speculative settings null."
        )
    if spec.workload.server_url:
        raise UserError(
            f"{named} configures a llama-server llem starts, but workload.server_url attaches to a running "
            f"one: leave the speculative settings null (start that server with them yourself)."
        )
    types = [t.strip() for t in (b["spec_type"] or "").split(",")]
    if b["spec_type"] is not None:
        bad = [t for t in types if t not in SPEC_TYPES]
        if bad:
            raise UserError(
                f"backend.spec_type={b['spec_type']} names {bad[0]!r}, not a llama-server speculative type: "
                f"give one or more of {', '.join(SPEC_TYPES)}, comma-separated."
            )
    needs_draft = [t for t in types if t in DRAFT_MODEL_TYPES]
    if needs_draft and b["draft_model"] is None:
        raise UserError(
            f"backend.spec_type={needs_draft[0]} drafts with a separate model: set backend.draft_model to "
            f"a .gguf file (or target, the job's own model)."
        )
    if b["draft_model"] is not None and b["spec_type"] is None:
        raise UserError(
            f"backend.draft_model={b['draft_model']} needs backend.spec_type: llama-server drafts with an "
            f"ordinary draft model only when told to, so set backend.spec_type=draft-simple (or draft-mtp, "
            f"draft-dflash, ... for those kinds of draft)."
        )
    if b["draft_model"] not in (None, DRAFT_IS_TARGET):
        path = Path(b["draft_model"]).expanduser()
        if not path.is_file() or path.suffix.lower() != ".gguf":
            raise UserError(
                f"backend.draft_model={b['draft_model']} is not a .gguf file: give the path of a GGUF draft "
                f"model with the target's vocabulary, or target."
            )
    if b["draft_n_min"] is not None and b["draft_n_max"] is not None and b["draft_n_min"] > b["draft_n_max"]:
        raise UserError(
            f"backend.draft_n_min={b['draft_n_min']} is above backend.draft_n_max={b['draft_n_max']}: "
            f"llama-server drafts at most draft_n_max tokens, so lower draft_n_min."
        )


def context_length(settings: dict, workload) -> int:
    """The n_ctx the engine gets: the setting, or the smallest multiple of 256 (>= 512) that fits."""
    if settings["n_ctx"] is not None:
        return settings["n_ctx"]
    needed = workload.input_tokens + workload.output_tokens
    return max(512, -(-needed // 256) * 256)

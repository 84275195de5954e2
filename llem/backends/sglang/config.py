"""Settings of the SGLang backend (validated before anything heavy is imported).

Names follow SGLang's `ServerArgs` fields (`python/sglang/srt/server_args.py`). The values that
quantization, kv_cache_dtype and attention_backend accept are the installed SGLang's own (read from
its server_args.py without importing it), else lists pinned to SGLang 0.5.16 (serverargs.py).
SGLang cannot be installed on llem's CPU machines: it runs on the GPU hosts (docs/measurements.md).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from llem.backends.engine_checks import check_fp8, check_parallelism, check_passthrough
from llem.backends.sglang.serverargs import choices_for_validation
from llem.errors import UserError, did_you_mean
from llem.host.devices import resolve_device

# The speculative algorithms SGLang 0.5.16 builds in (its ServerArgs.speculative_algorithm help: a free string,
# "Builtins: EAGLE, EAGLE3, NEXTN, STANDALONE, NGRAM, DFLASH, DSPARK"), and those that draft with a separate model.
SPECULATIVE_ALGORITHMS = ("EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM", "DFLASH", "DSPARK")
NEEDS_DRAFT_MODEL = ("EAGLE3", "STANDALONE", "DFLASH")
SPECULATIVE_KNOBS = (
    "speculative_draft_model_path",
    "speculative_num_steps",
    "speculative_eagle_topk",
    "speculative_num_draft_tokens",
)

RESERVED_ENGINE_KWARGS = ("model_path", "tokenizer_path", "revision", "trust_remote_code", "load_format", "skip_tokenizer_init")


class SglangConfig(BaseModel):
    """SGLang offline engine (sglang.Engine). Names are SGLang's ServerArgs fields; null keeps SGLang's default.
    Needs a CUDA GPU; run by llem on an H200 with SGLang 0.5.16 (docs/measurements.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["sglang"] = "sglang"
    batching: Literal["continuous", "static"] = Field(
        "continuous",
        description="continuous: all requests in one Engine.generate call, max_running_requests caps the running "
        "batch; static: groups of workload.batch_size",
    )
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = "auto"
    quantization: Optional[str] = Field(None, description="e.g. fp8 | awq | gptq | w8a8_int8 | w8a8_fp8 | modelopt_fp8 ...")
    kv_cache_dtype: str = Field("auto", description="auto | fp8_e5m2 | fp8_e4m3 | bf16 | bfloat16 | ...")
    mem_fraction_static: Optional[float] = Field(None, gt=0, lt=1, description="null: SGLang sizes it")
    max_running_requests: Optional[int] = Field(None, ge=1, description="null: workload.batch_size")
    chunked_prefill_size: Optional[int] = Field(None, ge=-1, description="-1 disables chunked prefill; null: SGLang's default")
    max_prefill_tokens: Optional[int] = Field(None, ge=1)
    disable_radix_cache: bool = Field(
        False,
        description="the RadixAttention prefix cache on (false) or off (true); flushed before every pass over the prompts",
    )
    tp_size: int = Field(1, ge=1)
    pp_size: int = Field(1, ge=1)
    attention_backend: Optional[str] = Field(
        None, description="e.g. flashinfer | fa3 | triton | torch_native; null: SGLang picks for the GPU"
    )
    disable_cuda_graph: Optional[bool] = Field(
        None,
        description="true: no CUDA graphs in either phase, sent as disable_decode_cuda_graph and "
        "disable_prefill_cuda_graph (SGLang's own flag of this name is deprecated, and is sent only to a release "
        "without the per-phase ones)",
    )
    disable_decode_cuda_graph: Optional[bool] = Field(
        None, description="true: no CUDA graphs in the decode phase; null: SGLang's default"
    )
    disable_prefill_cuda_graph: Optional[bool] = Field(
        None, description="true: no CUDA graphs in the prefill phase; null: SGLang's default"
    )
    page_size: Optional[int] = Field(None, ge=1)
    context_length: Optional[int] = Field(None, ge=1, description="null: workload.input_tokens + workload.output_tokens")
    random_seed: int = 0
    log_level: str = "error"
    speculative_algorithm: Optional[str] = Field(
        None, description="EAGLE | EAGLE3 | NEXTN | STANDALONE | NGRAM | DFLASH | DSPARK; null: no speculative decoding"
    )
    speculative_draft_model_path: Optional[str] = Field(
        None, description="the draft model (a local folder or Hub id); EAGLE3, STANDALONE and DFLASH need one"
    )
    speculative_num_steps: Optional[int] = Field(None, ge=1, description="draft steps per verification; null: SGLang's default")
    speculative_eagle_topk: Optional[int] = Field(None, ge=1, description="EAGLE's branching (top-k) per step")
    speculative_num_draft_tokens: Optional[int] = Field(None, ge=1, description="tokens verified per step")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="any other ServerArgs field, passed through: +backend.engine_kwargs.schedule_policy=lpm"
    )

    @classmethod
    def gpus_used(cls, spec) -> int:
        """GPUs the engine computes on (the meter reads exactly these: llem/energy/devices.py)."""
        return spec.backend["tp_size"] * spec.backend["pp_size"]

    @classmethod
    def check(cls, spec) -> None:
        b, hw, w = spec.backend, spec.hardware, spec.workload
        device = resolve_device(hw.device)
        check_parallelism("sglang", device, hw, {"tp_size": b["tp_size"], "pp_size": b["pp_size"]})
        _check_choices(b)
        check_fp8("sglang", hw, "quantization", b["quantization"])
        check_fp8("sglang", hw, "kv_cache_dtype", b["kv_cache_dtype"])
        check_passthrough("sglang", b["engine_kwargs"], cls.model_fields, RESERVED_ENGINE_KWARGS)
        needed = w.input_tokens + w.output_tokens
        if b["context_length"] is not None and b["context_length"] < needed:
            raise UserError(
                f"backend.context_length={b['context_length']} is shorter than workload.input_tokens + workload.output_tokens = {needed}: raise it or leave it null."
            )
        if b["chunked_prefill_size"] == 0:
            raise UserError(
                "backend.chunked_prefill_size=0 is not valid: give a chunk size in tokens, -1 to disable chunked prefill, or null for SGLang's default."
            )
        if b["batching"] == "static" and b["max_running_requests"] and b["max_running_requests"] < w.batch_size:
            raise UserError(
                f"backend.max_running_requests={b['max_running_requests']} is below workload.batch_size={w.batch_size} with batching=static: a batch would never run at once."
            )
        _check_speculative(b)


def _check_speculative(b: dict) -> None:
    algo = b["speculative_algorithm"]
    if algo is None:
        knob = next((k for k in SPECULATIVE_KNOBS if b[k] is not None), None)
        if knob:
            raise UserError(
                f"backend.{knob}={b[knob]} applies to speculative decoding only: set "
                f"backend.speculative_algorithm (one of {', '.join(SPECULATIVE_ALGORITHMS)}) or leave it null."
            )
        return
    if algo.upper() not in SPECULATIVE_ALGORITHMS:  # SGLang reads the name upper-cased (SpeculativeAlgorithm.from_string)
        raise UserError(
            f"backend.speculative_algorithm={algo} is not valid{did_you_mean(algo, list(SPECULATIVE_ALGORITHMS))}: "
            f"choose one of {', '.join(SPECULATIVE_ALGORITHMS)} (SGLang's built-in algorithms)."
        )
    if algo.upper() in NEEDS_DRAFT_MODEL and not b["speculative_draft_model_path"]:
        raise UserError(
            f"backend.speculative_algorithm={algo} drafts with a separate model: set "
            f"backend.speculative_draft_model_path to its folder or Hub id."
        )


def _check_choices(b: dict) -> None:
    choices, origin = choices_for_validation()
    for key, accepted in choices.items():
        value = b[key]
        if value is not None and value not in accepted:
            raise UserError(
                f"backend.{key}={value} is not valid{did_you_mean(str(value), list(accepted))}: "
                f"choose one of {', '.join(sorted(accepted))} (the values of {origin})."
            )

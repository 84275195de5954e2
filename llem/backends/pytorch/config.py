"""Settings of the transformers backend (validated before anything heavy is imported)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from llem.errors import UserError
from llem.host.devices import resolve_device


class PyTorchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["pytorch"] = "pytorch"
    # auto: bfloat16 on CUDA, float32 on CPU
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    # None: the whole model on the job's device; "auto": accelerate spreads it over the job's GPUs
    device_map: Optional[str] = None
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention"] = "sdpa"
    cache_implementation: Literal["dynamic", "static"] = "dynamic"
    torch_compile: bool = False
    compile_mode: Optional[Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]] = None
    num_threads: Optional[int] = Field(None, ge=1)  # torch intra-op threads on CPU; None = torch's default

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

"""Pre-launch checks shared by the GPU serving engines (vLLM, SGLang, TensorRT-LLM).

Pure functions over a JobSpec and plain values: nothing here imports an engine, so they run
during validation, before any model loads. Each raises one-sentence UserErrors.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from llem.errors import UserError, choice_error


def check_parallelism(backend: str, device: str, hardware, sizes: Mapping[str, int]) -> None:
    """tensor x pipeline parallel GPUs must fit the hardware profile's GPU count."""
    total = 1
    for size in sizes.values():
        total *= size
    named = " x ".join(f"backend.{k}={v}" for k, v in sizes.items())
    if device == "cpu" and total > 1:
        raise UserError(
            f"{named} asks for {total} devices, but llem runs backend={backend} on CPU as one process: set them to 1 on hardware={hardware.name}."
        )
    if device == "cuda" and total > hardware.gpu_count:
        raise UserError(
            f"{named} needs {total} GPUs but hardware.gpu_count={hardware.gpu_count} "
            f"(hardware={hardware.name}): lower the parallel sizes or set hardware.gpu_count={total}."
        )


def check_fp8(backend: str, hardware, setting: str, value: Optional[str]) -> None:
    """An FP8 weight or KV-cache format on a GPU profile that declares no FP8 support."""
    if value and "fp8" in str(value).lower() and hardware.fp8 is False:
        raise UserError(
            f"backend.{setting}={value} needs FP8 support, which hardware={hardware.name} does not have "
            f"(hardware.fp8=false; FP8 needs Ada or Hopper and newer): choose another {setting} for backend={backend}."
        )


def check_choice(setting: str, value: Optional[str], choices: Iterable[str]) -> None:
    if value is not None and value not in set(choices):
        raise choice_error(f"backend.{setting}", value, list(choices))


def check_passthrough(backend: str, passthrough: Mapping, typed: Iterable[str], reserved: Iterable[str] = ()) -> None:
    """engine_kwargs may add what llem does not model, never shadow a typed setting."""
    typed, reserved = set(typed), set(reserved)
    for key in passthrough:
        if key in typed:
            raise UserError(
                f"backend.engine_kwargs.{key} duplicates the setting backend.{key}: set backend.{key}={passthrough[key]} instead."
            )
        if key in reserved:
            raise UserError(
                f"backend.engine_kwargs.{key} is set by llem from the model and workload for backend={backend}: remove it from engine_kwargs."
            )

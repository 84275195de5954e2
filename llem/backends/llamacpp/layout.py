"""What llama-cpp-python's ctypes structs say, across their layouts (no engine import here).

llama_context_params has `flash_attn` (a bool) up to llama-cpp-python 0.3.16 and, from 0.3.17,
`flash_attn_type` (an int: LLAMA_FLASH_ATTN_TYPE_AUTO -1, DISABLED 0, ENABLED 1).
"""

from __future__ import annotations

from typing import Union

FLASH_ATTN_TYPES = {-1: "auto", 0: False, 1: True}  # llama.h's enum llama_flash_attn_type


def flash_attn(context_params) -> Union[bool, str]:
    """True/False as the context was created, or "auto" where llama.cpp decides per device."""
    if hasattr(context_params, "flash_attn_type"):
        value = int(context_params.flash_attn_type)
        return FLASH_ATTN_TYPES.get(value, f"flash_attn_type {value}")
    return bool(context_params.flash_attn)

"""llama-cpp-python as it is today: describe() reads both layouts of the context struct (the server's
rules are in tests/serving/test_llamacpp_server_rules.py)."""

from __future__ import annotations

import ctypes

import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from llem.backends.llamacpp.layout import flash_attn  # noqa: E402


def _other_layout():
    """The installed llama_context_params with its flash-attention field in the other release's form:
    `flash_attn` (c_bool, up to 0.3.16) <-> `flash_attn_type` (c_int, from 0.3.17); every other field kept."""
    fields = []
    for name, kind in llama_cpp.llama_context_params._fields_:
        if name == "flash_attn":
            fields.append(("flash_attn_type", ctypes.c_int))
        elif name == "flash_attn_type":
            fields.append(("flash_attn", ctypes.c_bool))
        else:
            fields.append((name, kind))
    return type("other_llama_context_params", (ctypes.Structure,), {"_fields_": fields})


def _set(params, enabled):
    if hasattr(params, "flash_attn_type"):
        params.flash_attn_type = {True: 1, False: 0, "auto": -1}[enabled]
    else:
        params.flash_attn = enabled


@pytest.mark.parametrize("layout", ["installed", "other"])
def test_describe_reads_flash_attention_from_either_struct_layout(layout):
    params = llama_cpp.llama_context_default_params() if layout == "installed" else _other_layout()()
    field_names = {n for n, _ in type(params)._fields_}
    assert len(field_names & {"flash_attn", "flash_attn_type"}) == 1
    for enabled in (True, False):
        _set(params, enabled)
        assert flash_attn(params) is enabled
    if "flash_attn_type" in field_names:
        _set(params, "auto")
        assert flash_attn(params) == "auto"

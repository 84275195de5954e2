"""The precision llama.cpp ran at, read from the GGUF it loaded (llem/backends/llamacpp/precision.py):
real quantised files written by llem's converter (the gguf package's quantisers), and a file mixing
tensor types as K-quant files do."""

from __future__ import annotations

import builtins

import pytest

from conftest import require_module

require_module("gguf", "gguf (the pytorch extra)", "pip install 'llem[pytorch]'")


def _converted(tmp_path, qtype: str):
    from llem.models.builtin import materialize
    from llem.backends.llamacpp.gguf import convert_llama_checkpoint

    out = tmp_path / f"tiny-{qtype}.gguf"
    convert_llama_checkpoint(materialize("tiny"), out, qtype)
    return out


@pytest.mark.parametrize("qtype, name, per_param", [("f16", "F16", 2.0), ("q8_0", "Q8_0", 34 / 32), ("q4_0", "Q4_0", 18 / 32)])
def test_a_converted_gguf_reports_its_type_and_bytes_per_weight(tmp_path, qtype, name, per_param):
    from llem.backends.llamacpp.precision import read_gguf_precision

    got = read_gguf_precision(_converted(tmp_path, qtype))
    # every matmul weight of llem's converter is of the file's type: its block size over its elements
    assert got["weight_format"] == name and got["weight_bytes_per_param"] == pytest.approx(per_param)
    assert got["weight_precision_source"].startswith("GGUF header")


def test_mixed_tensor_types_give_the_stored_mean_and_an_untied_embedding_is_left_out(tmp_path):
    import gguf
    import numpy as np

    from llem.backends.llamacpp.precision import read_gguf_precision

    rng = np.random.default_rng(0)
    path = tmp_path / "mixed.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q4_0))
    q4, q8 = gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.Q8_0
    for tname, shape, qt in [
        ("token_embd.weight", (64, 256), q8),
        ("blk.0.attn_q.weight", (256, 256), q4),
        ("blk.0.ffn_down.weight", (256, 512), q8),
        ("output.weight", (64, 256), q4),
    ]:
        data = rng.standard_normal(shape).astype(np.float32)
        w.add_tensor(tname, gguf.quants.quantize(data, qt), raw_dtype=qt)
    w.add_tensor("blk.0.attn_norm.weight", np.ones(256, dtype=np.float32))  # 1-D: not a matmul weight
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    got = read_gguf_precision(path)
    q4_b, q8_b = 18 / 32, 34 / 32
    elements = {"q": 256 * 256, "down": 256 * 512, "out": 64 * 256}
    expect = (elements["q"] * q4_b + elements["down"] * q8_b + elements["out"] * q4_b) / sum(elements.values())
    assert got["weight_format"] == "Q4_0" and got["weight_bytes_per_param"] == pytest.approx(expect)


def test_without_the_gguf_package_llamas_own_view_is_used(tmp_path, monkeypatch):
    from llem.backends.llamacpp.precision import loaded_precision

    real_import = builtins.__import__

    def no_gguf(name, *args, **kw):
        if name == "gguf":
            raise ImportError("no gguf here")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_gguf)
    got = loaded_precision(tmp_path / "absent.gguf", {"general.file_type": "15"}, model_size_b=4_800, n_params=8_000)
    assert got["weight_format"] == "Q4_K_M" and got["weight_bytes_per_param"] == pytest.approx(0.6)
    assert "gguf package is not installed" in got["weight_precision_source"]
    unknown = loaded_precision(tmp_path / "absent.gguf", {}, None, None)
    assert unknown["weight_format"] is None and unknown["weight_bytes_per_param"] is None

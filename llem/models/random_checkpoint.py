"""A random-weight checkpoint of a shipped architecture as a real folder (config.json, llem's tiny
tokenizer, model.safetensors in bf16), so that an engine that needs weights on disk (llama.cpp, via
the GGUF converter) can run `model.weights=random`. Weights are drawn with numpy from
`model.seed`: normal(0, initializer_range) for matrices, ones for norms, as transformers
initialises a Llama. Built once per (architecture, seed) into llem's cache (atomic rename)."""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from pathlib import Path

from llem.models.archs import load_arch
from llem.models.builtin import copy_tiny_tokenizer
from llem.paths import cache_dir

VERSION = "rand-ckpt-v2"  # v2: the tiny tokenizer with its chat template


def llama_tensor_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """HF names and shapes of a Llama checkpoint's tensors."""
    h, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or heads
    hd = cfg.get("head_dim") or h // heads
    shapes = {"model.embed_tokens.weight": (vocab, h), "model.norm.weight": (h,)}
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (vocab, h)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update(
            {
                p + "input_layernorm.weight": (h,),
                p + "post_attention_layernorm.weight": (h,),
                p + "self_attn.q_proj.weight": (heads * hd, h),
                p + "self_attn.k_proj.weight": (kv * hd, h),
                p + "self_attn.v_proj.weight": (kv * hd, h),
                p + "self_attn.o_proj.weight": (h, heads * hd),
                p + "mlp.gate_proj.weight": (inter, h),
                p + "mlp.up_proj.weight": (inter, h),
                p + "mlp.down_proj.weight": (h, inter),
            }
        )
    return shapes


def write_random_safetensors(cfg: dict, path: Path, seed: int) -> None:
    """model.safetensors (bf16) of random Llama weights, written tensor by tensor."""
    import numpy as np

    rng = np.random.default_rng(seed)
    std = float(cfg.get("initializer_range", 0.02))
    shapes = llama_tensor_shapes(cfg)
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        for name, shape in shapes.items():
            if len(shape) == 1:
                x = np.ones(shape, dtype=np.float32)
            else:
                x = rng.standard_normal(shape, dtype=np.float32) * std
            # bf16 by rounding to nearest even on the float32 bits
            bits = x.view(np.uint32)
            bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
            fh.write(bits.astype("<u2").tobytes())


def random_checkpoint(arch: str, seed: int) -> Path:
    """The cached folder for (arch, seed), built on first use."""
    final = cache_dir() / "models" / f"random-{arch}-seed{seed}-{VERSION}"
    if (final / "model.safetensors").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".random-{arch}-", dir=final.parent))
    try:
        cfg = {k: v for k, v in load_arch(arch).items() if not k.startswith("_")}
        tiny = copy_tiny_tokenizer(tmp)
        tiny_cfg = json.loads((tiny / "config.json").read_text())
        # llem's tokenizer's special ids, so that the converted GGUF names the tokens it really uses
        cfg.update({k: tiny_cfg[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if k in tiny_cfg})
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2))
        write_random_safetensors(cfg, tmp / "model.safetensors", seed)
        try:
            tmp.rename(final)
        except OSError:  # another job built it first
            if not (final / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final

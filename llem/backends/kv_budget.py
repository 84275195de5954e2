"""The KV-cache budget an engine ran with, in one shape for every engine: result.json
`engine.kv_cache_budget`, written by each backend's describe() from what its engine resolved
(llem/backends/<name>/), read by the comparison certificate (llem/results/comparison.py).

- allocation "per_call": the cache is sized to each engine call (batch x (prompt + output) tokens,
  grown as decoding goes or allocated per call), so it never limits the batch; `tokens` is null;
- allocation "pool": a pool of `tokens` token slots set at load (vLLM's blocks x block size,
  llama.cpp's n_ctx, SGLang's max_total_num_tokens); `per_sequence_tokens` where the pool is split
  into one fixed part per sequence (llama.cpp's n_ctx_seq), `sequences` how many; `tokens` null
  with a `reason` where the engine does not expose the count;
- `dtype` in torch's names (float16, bfloat16, float32, fp8_e4m3, ...; llama.cpp's quantised
  cache types as llama.cpp names them, q8_0), the K and V types joined by "/" where they differ;
- `bytes_per_token` where the engine's model shape gives it (2 x layers x KV heads x head dim x
  element size), else null.
"""

from __future__ import annotations

from typing import Optional

DTYPE_NAMES = {
    "f16": "float16",
    "fp16": "float16",
    "half": "float16",
    "f32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bf16": "bfloat16",
}
ELEMENT_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def dtype_name(name) -> Optional[str]:
    """A cache dtype in torch's names ("f16" -> "float16", "torch.bfloat16" -> "bfloat16")."""
    if name is None:
        return None
    text = str(name).removeprefix("torch.").lower()
    return DTYPE_NAMES.get(text, text)


def kv_dtype(k, v=None) -> Optional[str]:
    """The cache dtype, "k/v" where the K and V caches differ."""
    k, v = dtype_name(k), dtype_name(v if v is not None else k)
    return k if k == v else f"{k}/{v}"


def bytes_per_token(layers, kv_heads, head_dim, dtype) -> Optional[int]:
    size = ELEMENT_BYTES.get(str(dtype))
    if size is None or not all(isinstance(x, int) and x > 0 for x in (layers, kv_heads, head_dim)):
        return None
    return 2 * layers * kv_heads * head_dim * size


def per_call(dtype, note: str, per_token_bytes: Optional[int] = None) -> dict:
    """A cache sized to each engine call: it holds whatever batch the call runs."""
    return {
        "allocation": "per_call",
        "tokens": None,
        "per_sequence_tokens": None,
        "sequences": None,
        "dtype": dtype,
        "bytes_per_token": per_token_bytes,
        "note": note,
        "reason": None,
    }


def pool(
    tokens: Optional[int],
    dtype,
    note: str,
    per_sequence_tokens: Optional[int] = None,
    sequences: Optional[int] = None,
    per_token_bytes: Optional[int] = None,
    reason: Optional[str] = None,
) -> dict:
    """A pool of token slots set at load; tokens None needs the reason the engine does not tell it."""
    if tokens is None and reason is None:
        reason = "the engine does not expose its KV-cache size in tokens"
    return {
        "allocation": "pool",
        "tokens": tokens,
        "per_sequence_tokens": per_sequence_tokens,
        "sequences": sequences,
        "dtype": dtype,
        "bytes_per_token": per_token_bytes,
        "note": note,
        "reason": reason,
    }

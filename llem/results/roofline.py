"""How close a window came to what the hardware allows: the FLOPs and bytes a Llama-family
decoder needs for the window's work, against the card's datasheet peaks (llem/results/peaks.py).

- MFU (prefill): prefill FLOPs / (prefill time x peak dense FLOP/s of the compute type).
- MBU (decode): decode bytes / (decode time x peak memory bandwidth).

The work model (stated in every result, docs/energy.md "Roofline"):
- FLOPs per token through the decoder: 2 x its matmul parameters (q, k, v, o, gated MLP); the
  LM head (hidden x vocab) once per generated token and once per prompt; attention 2 x 2 x d_attn
  per layer per attended position (QK^T and AV), half of a square for a causal prompt.
- Bytes per decode step of a batch: every weight once (the LM head too; embedding rows are
  negligible), plus the KV cache of every sequence at its current length, plus the new K and V.
- The first output token comes from the prefill pass; each later token is one decode step.
- Prefill time, one definition for every engine: the mean prefill-only pass of run.phases=true
  (the same prompts with one output token, llem/results/phases.py). Without it the prefill time is
  unknown: MFU is null and MBU is taken over the whole window (prefill included, so a lower bound,
  named so). An engine's own time to first token is not used: it exists for some engines only, and
  it measured a different span (4.1% vs 6.9% MFU on one llama.cpp run).
- Batch: the requests of each engine call as the window recorded them (`batch_requests`; 9 prompts
  at batch 8 are calls of 8 and 1); an engine that schedules one call's requests in smaller decode
  batches of its own (a vLLM max_num_seqs below the call) is counted as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

BYTES = {
    "float32": 4.0,
    "fp32": 4.0,
    "f32": 4.0,
    "bfloat16": 2.0,
    "float16": 2.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "f16": 2.0,
    "half": 2.0,
    "fp8": 1.0,
    "fp8_e4m3": 1.0,
    "fp8_e5m2": 1.0,
    "int8": 1.0,
    "q8_0": 34 / 32,
    "q6_k": 210 / 256,
    "q5_k_m": 176 / 256,
    "q5_0": 22 / 32,
    "q5_1": 24 / 32,
    "q4_k_m": 144 / 256,
    "q4_0": 18 / 32,
    "q4_1": 20 / 32,
}


@dataclass(frozen=True)
class Shape:
    """A Llama-family decoder's dimensions (config.json fields)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int

    @classmethod
    def from_config(cls, cfg: dict) -> "Shape":
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        return cls(
            layers=int(cfg["num_hidden_layers"]),
            hidden=hidden,
            heads=heads,
            kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(cfg.get("head_dim") or hidden // heads),
            intermediate=int(cfg["intermediate_size"]),
            vocab=int(cfg["vocab_size"]),
        )

    @property
    def layer_matmul_params(self) -> int:
        q_o = 2 * self.hidden * self.heads * self.head_dim
        k_v = 2 * self.hidden * self.kv_heads * self.head_dim
        return q_o + k_v + 3 * self.hidden * self.intermediate

    @property
    def decoder_params(self) -> int:
        return self.layers * self.layer_matmul_params

    @property
    def head_params(self) -> int:
        return self.hidden * self.vocab

    def kv_elements_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim

    def attention_flops(self, positions: float) -> float:
        """QK^T and AV for one query over `positions` keys, all layers."""
        return 4.0 * self.layers * self.heads * self.head_dim * positions


@dataclass(frozen=True)
class Work:
    prefill_flops: float
    prefill_bytes: float
    decode_flops: float
    decode_bytes: float
    decode_steps: int


def window_work(shape: Shape, input_tokens: list[int], output_tokens: int, batch, weight_bytes: float, kv_bytes: float) -> Work:
    """The work of one pass: prompts of `input_tokens` lengths in groups of `batch` (one size for all, or
    each group's size in order, e.g. [8, 1]), each request generating `output_tokens`.
    weight_bytes / kv_bytes: bytes per parameter / per cache element."""
    per_token = 2.0 * shape.decoder_params
    weights = (shape.decoder_params + shape.head_params) * weight_bytes
    kv_token = shape.kv_elements_per_token() * kv_bytes
    pf = sum(per_token * n + _prompt_attention(shape, n) + 2.0 * shape.head_params for n in input_tokens)
    groups = _groups(input_tokens, batch)
    pb = sum(weights + sum(g) * kv_token for g in groups)
    df = db = 0.0
    steps = 0
    for g in groups:
        for t in range(1, output_tokens):
            steps += 1
            contexts = [n + t for n in g]
            df += sum(per_token + 2.0 * shape.head_params + shape.attention_flops(c) for c in contexts)
            db += weights + sum(c * kv_token for c in contexts)  # the cache read, the new K/V written
    return Work(pf, pb, df, db, steps)


def _groups(input_tokens: list[int], batch) -> list[list[int]]:
    if isinstance(batch, int):
        return [input_tokens[i : i + batch] for i in range(0, len(input_tokens), max(batch, 1))]
    out, i = [], 0
    for size in batch:
        out.append(input_tokens[i : i + size])
        i += size
    if i != len(input_tokens):
        raise ValueError(f"engine calls of {list(batch)} requests do not add up to the {len(input_tokens)} prompts")
    return out


def _prompt_attention(shape: Shape, n: int) -> float:
    """Causal attention over a prompt of n tokens: query i attends to i keys (half a square)."""
    return shape.attention_flops(n * (n + 1) / 2)


@dataclass(frozen=True)
class Precision:
    weight_bytes: Optional[float]
    kv_bytes: Optional[float]
    compute: str  # "bf16" (also fp16, fp32 weights computed in tensor cores at best bf16 peak) | "fp8"
    note: str


NO_QUANT = ("", "none", "null")


def precision_of(effective: dict, config_dtype: Optional[str] = None) -> Precision:
    """Bytes per weight and per cache element from the engine's effective settings (generic keys only):
    `weight_bytes_per_param` (the loaded file's own mean, e.g. a GGUF's) or `weight_format` (a type name),
    else `dtype` with `quantization`; `kv_cache_dtype` ("auto": the weights' dtype). A dtype of "auto"
    is the checkpoint's (config_dtype; float32 checkpoints run in bfloat16, as vLLM and SGLang do). A
    quantization llem has no byte count for leaves the weight bytes unknown, never the dtype's."""
    dtype = str(effective.get("dtype") or "").lower().removeprefix("torch.")
    if dtype == "auto" and config_dtype:
        dtype = str(config_dtype).lower().removeprefix("torch.")
        dtype = "bfloat16" if dtype in ("float32", "fp32") else dtype
    quant = str(effective.get("quantization") or "").lower()
    kv = str(effective.get("kv_cache_dtype") or "auto").lower()
    per_param, fmt = effective.get("weight_bytes_per_param"), effective.get("weight_format")
    if per_param or fmt:
        weight = float(per_param) if per_param else BYTES.get(str(fmt).lower())
        kv_b = BYTES.get(kv) if kv not in ("auto", "") else 2.0
        source = effective.get("weight_precision_source") or "the engine's effective settings"
        return Precision(
            weight,
            kv_b,
            "bf16",
            f"{fmt or 'weights'} ({weight if weight is None else round(weight, 4)} "
            f"bytes per weight, from {source}), KV {kv}, f16/bf16 compute",
        )
    if quant.startswith("fp8"):
        weight, compute = BYTES["fp8"], "fp8"
    elif quant in NO_QUANT:
        weight, compute = BYTES.get(dtype), "bf16"
    else:
        weight, compute = None, "bf16"
    kv_b = BYTES.get(kv) if kv not in ("auto", "") else weight
    return Precision(weight, kv_b, compute, f"dtype {dtype or 'unknown'}, quantization {quant or 'none'}, KV {kv}")


def utilisation(work: Work, duration_s: float, prefill_s: Optional[float], peak, precision: Precision) -> dict:
    """MFU (prefill) and MBU (decode) of one window; null with a reason where a term is unknown."""
    out: dict = {
        "prefill_flops": work.prefill_flops,
        "decode_flops": work.decode_flops,
        "prefill_bytes": work.prefill_bytes,
        "decode_bytes": work.decode_bytes,
        "prefill_s": prefill_s,
        "mfu_prefill": None,
        "mbu_decode": None,
        "mbu_decode_bound": None,
        "reason": None,
    }
    flops = peak.flop_s(precision.compute)
    if prefill_s is not None and 0 < prefill_s < duration_s:
        out["mfu_prefill"] = work.prefill_flops / (prefill_s * flops) if flops else None
        out["mbu_decode"] = work.decode_bytes / ((duration_s - prefill_s) * peak.memory_b_s)
        out["mbu_decode_bound"] = "measured"
    else:
        # without the prefill time the whole window counts as decode: a lower bound on decode's MBU
        out["mbu_decode"] = work.decode_bytes / (duration_s * peak.memory_b_s) if duration_s > 0 else None
        out["mbu_decode_bound"] = "lower bound (window includes prefill)"
        out["reason"] = "the prefill time is unknown (the engine reports no time to first token): MFU not computed"
    return out

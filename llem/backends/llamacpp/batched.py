"""llama.cpp's multi-sequence batch, driven token by token through the bindings' low-level API.

One engine call decodes up to `n_seq` requests together, as llama.cpp's own batched tools do: every
prompt goes into the same `llama_batch` under its own sequence id (split into several `llama_decode`
calls only where the prompts hold more than n_batch tokens together), then each step decodes one
token per sequence in one `llama_decode`. Each sequence has its own KV cells (a context made with
n_seq_max = n_seq and a non-unified KV cache, n_ctx_seq tokens per sequence) and its own sampler
chain, so a sequence's tokens do not depend on which others share its batch beyond floating-point
summation order. The KV cache is cleared before every engine call: no prefix is re-used.
"""

from __future__ import annotations

import ctypes
import time
from typing import Optional


class DecodeError(RuntimeError):
    pass


def memory_clear(lib, ctx) -> None:
    """Drop every sequence's KV cells (llama_memory_clear; llama_kv_self_clear before the memory API)."""
    if hasattr(lib, "llama_get_memory"):
        lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
    else:  # pragma: no cover - llama-cpp-python releases before the memory API
        lib.llama_kv_self_clear(ctx)


def new_context(lib, model, base_params, n_ctx_seq: int, n_seq: int):
    """A context for n_seq sequences of n_ctx_seq tokens each, otherwise as base_params (a copy is changed)."""
    params = type(base_params).from_buffer_copy(base_params)
    params.n_seq_max = n_seq
    params.n_ctx = n_ctx_seq * n_seq  # non-unified cache: llama.cpp gives each sequence n_ctx / n_seq_max
    if hasattr(params, "kv_unified"):
        params.kv_unified = False
    init = getattr(lib, "llama_init_from_model", None) or lib.llama_new_context_with_model
    ctx = init(model, params)
    if not ctx:
        raise DecodeError(f"llama.cpp could not create a context for {n_seq} sequences of {n_ctx_seq} tokens")
    return ctx


class Batch:
    """A llama_batch of up to `capacity` tokens, each in one sequence."""

    def __init__(self, lib, capacity: int):
        self.lib, self.capacity = lib, capacity
        self.raw = lib.llama_batch_init(capacity, 0, 1)
        self.raw.n_tokens = 0

    def clear(self) -> None:
        self.raw.n_tokens = 0

    def add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        """Append one token; returns its index in the batch (where its logits will be)."""
        b, i = self.raw, self.raw.n_tokens
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq
        b.logits[i] = logits
        b.n_tokens = i + 1
        return i

    def free(self) -> None:
        if self.raw is not None:
            self.lib.llama_batch_free(self.raw)
            self.raw = None


def decode(lib, ctx, batch: Batch) -> None:
    rc = lib.llama_decode(ctx, batch.raw)
    if rc != 0:
        # 1: no KV slot, 2: aborted, < 0: invalid batch or fatal: a measurement cannot continue after any
        raise DecodeError(f"llama_decode returned {rc} for a batch of {batch.raw.n_tokens} tokens")


def run_batch(
    lib, ctx, batch: Batch, samplers, prompts: list[list[int]], n_out: int, stop: Optional[frozenset] = None
) -> tuple[list[list[int]], float, float]:
    """Decode the prompts together, n_out tokens each. Returns (output ids per prompt, time until
    every sequence had its first token, latency). samplers[i] samples sequence i. Sampling reads the
    logits, which waits for the device (llama_get_logits_ith synchronises), so both times cover the work.
    `stop` (structured output): a sequence that samples one of these ids ends there (the id counted); the
    later steps decode the others only."""
    memory_clear(lib, ctx)
    for s in samplers[: len(prompts)]:
        lib.llama_sampler_reset(s)  # same seed for every request, as one request alone would have
    outs: list[list[int]] = [[] for _ in prompts]
    t0 = time.perf_counter()
    # Prefill: the prompts' tokens in order, as many per llama_decode as n_batch allows; logits only for
    # each prompt's last token, sampled right after the decode that held it (the next one overwrites them).
    batch.clear()
    pending: list[tuple[int, int]] = []  # (sequence, index in batch) awaiting their first token
    for seq, ids in enumerate(prompts):
        for pos, token in enumerate(ids):
            last = pos == len(ids) - 1
            idx = batch.add(token, pos, seq, last)
            if last:
                pending.append((seq, idx))
            if batch.raw.n_tokens == batch.capacity:
                _flush(lib, ctx, batch, samplers, pending, outs)
    if batch.raw.n_tokens:
        _flush(lib, ctx, batch, samplers, pending, outs)
    ttft = time.perf_counter() - t0
    # Decode: one token per sequence per step, all sequences (still going) in one llama_decode.
    going = list(range(len(prompts)))
    for step in range(1, n_out):
        if stop is not None:
            going = [seq for seq in going if outs[seq][-1] not in stop]
            if not going:
                break
        batch.clear()
        at = [batch.add(outs[seq][-1], len(prompts[seq]) + step - 1, seq, True) for seq in going]
        decode(lib, ctx, batch)
        for seq, idx in zip(going, at):
            outs[seq].append(lib.llama_sampler_sample(samplers[seq], ctx, idx))
    return outs, ttft, time.perf_counter() - t0


def _flush(lib, ctx, batch: Batch, samplers, pending: list[tuple[int, int]], outs) -> None:
    decode(lib, ctx, batch)
    for seq, idx in pending:
        outs[seq].append(lib.llama_sampler_sample(samplers[seq], ctx, idx))
    pending.clear()
    batch.clear()


def logit_bias_array(lib, token_ids) -> ctypes.Array:
    """A llama_logit_bias array giving each token a -inf bias (kept alive by the caller)."""
    arr = (lib.llama_logit_bias * len(token_ids))()
    for i, token in enumerate(token_ids):
        arr[i].token = token
        arr[i].bias = float("-inf")
    return arr

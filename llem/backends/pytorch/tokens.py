"""Output tokens per request from the ids `generate` returned, not from the padded tensor width.

A batch's output tensor is as wide as its longest row: a row that hit an end-of-sequence id early
is filled with padding after it. Each row's count is its new ids up to and including the first
end-of-sequence id, or all of them when it has none.
"""

from __future__ import annotations

from typing import Iterable, Sequence


def eos_ids(generation_config, tokenizer) -> set[int]:
    ids = getattr(generation_config, "eos_token_id", None)
    if ids is None:
        ids = getattr(tokenizer, "eos_token_id", None)
    if ids is None:
        return set()
    return {int(i) for i in (ids if isinstance(ids, (list, tuple)) else [ids])}


def count_new_tokens(rows: Iterable[Sequence[int]], eos: set[int]) -> list[int]:
    """rows: each request's newly generated ids (prompt removed). transformers pads only rows that
    finished (after their end-of-sequence id), so a row without one is all output, even where it
    generated the pad id itself."""
    counts = []
    for row in rows:
        n = len(row)
        for i, t in enumerate(row):
            if int(t) in eos:
                n = i + 1
                break
        counts.append(n)
    return counts

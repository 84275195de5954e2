"""Synthetic token-id prompts that share a prefix: workload.prefix_share as a controlled axis.

Every prompt has exactly workload.input_tokens ids. Prompts are taken in groups of
workload.prefix_group_size consecutive requests (the last group may be smaller); the prompts of one
group begin with the same `shared_tokens(input_tokens, share)` = floor(share x input_tokens) ids, then
go on with ids of their own. So that a prefix cache can match exactly the shared part and nothing
more, by construction (not by the luck of random draws):

- the first id of every group's prefix differs from every other group's (no two groups share a
  first token, so no cross-group match);
- within a group, the first id after the prefix differs between every two members (no member
  shares a token more than the prefix with another).

The ids are drawn from `allowed` (the vocabulary without special ids) by one random.Random(seed):
the same settings give the same prompts. With share 0 llem keeps its earlier generator
(llem/workload/prompts.py), so the prompts and their hash of every earlier synthetic run stay the same.

The best hit rate a prefix cache can reach on one pass (`ideal_hit_rate`): every member of a group
but its first finds the group's prefix cached, i.e. shared x (requests - groups) / (requests x
input_tokens). What an engine reaches can be lower: where members of a group are prefilled in the same
step and the engine shares only blocks already computed, where it caches in blocks (vLLM: whole blocks
only), or where it evicts. The engine's own count says which (llem/workload/prefix_cache.py).
"""

from __future__ import annotations

import math
import random
from typing import Sequence


def shared_tokens(input_tokens: int, share: float) -> int:
    """The number of ids each prompt shares with its group: floor(share x input_tokens)."""
    return math.floor(share * input_tokens + 1e-9)  # 0.5 x 128 = 64 exactly, despite binary floats


def group_sizes(n: int, group_size: int) -> list[int]:
    """Sizes of the consecutive groups of n requests: group_size each, the last one what is left."""
    return [min(group_size, n - start) for start in range(0, n, group_size)]


def ideal_hit_rate(n: int, input_tokens: int, share: float, group_size: int) -> float:
    """Cached prompt tokens / prompt tokens when every member after a group's first hits the whole prefix."""
    if n == 0:
        return 0.0
    groups = len(group_sizes(n, group_size))
    return shared_tokens(input_tokens, share) * (n - groups) / (n * input_tokens)


def _distinct(rng: random.Random, allowed: Sequence[int], taken: set[int]) -> int:
    """A draw from `allowed` not in `taken` (taken is small against the vocabulary)."""
    if len(taken) >= len(allowed):
        raise ValueError(f"{len(taken) + 1} distinct ids needed, the vocabulary has {len(allowed)}")
    while True:
        x = rng.choice(allowed)
        if x not in taken:
            taken.add(x)
            return x


def prefix_prompts(
    n: int, input_tokens: int, share: float, group_size: int, allowed: Sequence[int], seed: int
) -> list[list[int]]:
    """n prompts of exactly input_tokens ids, sharing prefixes as the module docstring says."""
    shared = shared_tokens(input_tokens, share)
    if not 0 < shared < input_tokens:
        raise ValueError(f"share {share} of {input_tokens} tokens leaves no shared prefix or no own suffix")
    rng = random.Random(seed)
    first_ids: set[int] = set()
    prompts: list[list[int]] = []
    for size in group_sizes(n, group_size):
        prefix = [_distinct(rng, allowed, first_ids)] + [rng.choice(allowed) for _ in range(shared - 1)]
        heads: set[int] = set()
        for _ in range(size):
            own = [_distinct(rng, allowed, heads)] + [rng.choice(allowed) for _ in range(input_tokens - shared - 1)]
            prompts.append(prefix + own)
    return prompts

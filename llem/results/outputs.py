"""What the engine computed, per request: a hash of its output token ids and their first few ids,
so that results of different engines on the same model, weights and prompts can be compared
(`llem report` groups them; docs/efficiency.md "Output identity"). Greedy runs only are expected
to match; sampled runs are recorded all the same and said to be sampled."""

from __future__ import annotations

import hashlib
import sys
from array import array
from typing import Optional

HEAD = 32  # ids kept per request: where two engines first diverge, when within these


def ids_sha256(ids: list[int]) -> str:
    """SHA-256 of token ids as little-endian unsigned 32-bit integers."""
    buf = array("I", ids)  # 4 bytes on every platform llem runs on
    if sys.byteorder == "big":
        buf.byteswap()
    return hashlib.sha256(buf.tobytes()).hexdigest()


def outputs_record(request_ids: list[str], per_window: list[Optional[list[list[int]]]], greedy: bool) -> dict:
    """The result's `outputs`: the first window's ids per request and whether every window agreed."""
    seen = [w for w in per_window if w is not None]
    if not seen:
        return {"requests": None, "reason": "the engine does not hand over output token ids"}
    first = seen[0]
    hashes = [ids_sha256(ids) for ids in first]
    identical = all([ids_sha256(ids) for ids in w] == hashes for w in seen[1:]) if len(seen) > 1 else None
    return {
        "greedy": greedy,
        "head_length": HEAD,
        "windows_identical": identical,
        "requests": [{"id": rid, "sha256": h, "n": len(ids), "head": list(ids[:HEAD])}
                     for rid, h, ids in zip(request_ids, hashes, first)],
    }


def outputs_flags(record: dict) -> list[str]:
    if record.get("greedy") and record.get("windows_identical") is False:
        return ["outputs_differ_between_windows: a greedy run produced different token ids in different windows "
                "(non-deterministic kernels or batching order): compare engines on the first window only"]
    return []

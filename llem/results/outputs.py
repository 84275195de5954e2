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
        "requests": [
            {"id": rid, "sha256": h, "n": len(ids), "head": list(ids[:HEAD])} for rid, h, ids in zip(request_ids, hashes, first)
        ],
    }


def first_divergence(a: dict, b: dict) -> Optional[int]:
    """Where two requests' output ids first differ (None: identical), from their hashes and heads; where
    the heads agree the ids differ later (or in length), reported as the heads' shorter length."""
    if a["sha256"] == b["sha256"]:
        return None
    for i, (x, y) in enumerate(zip(a["head"], b["head"])):
        if x != y:
            return i
    return min(len(a["head"]), len(b["head"]))


def compare_outputs(reference: dict, other: dict) -> dict:
    """Two results' `outputs` compared request by request (requests matched by id): how many are
    identical, and where the first divergence is (within the first `head_length` ids; beyond it "at
    head_length or later")."""
    ref = {r["id"]: r for r in reference["requests"]}
    pairs = [(ref[r["id"]], r) for r in other["requests"] if r["id"] in ref]
    diverge = [first_divergence(a, b) for a, b in pairs]
    firsts = [d for d in diverge if d is not None]
    head = min(reference.get("head_length") or HEAD, other.get("head_length") or HEAD)
    return {
        "requests": len(pairs),
        "identical": sum(d is None for d in diverge),
        "identical_share": sum(d is None for d in diverge) / len(pairs) if pairs else None,
        "first_divergence": min(firsts) if firsts else None,
        "first_divergence_beyond_head": bool(firsts) and min(firsts) >= head,
        "diverges_everywhere": bool(pairs) and all(d == 0 for d in diverge),
    }


def outputs_flags(record: dict) -> list[str]:
    if record.get("greedy") and record.get("windows_identical") is False:
        return [
            "outputs_differ_between_windows: a greedy run produced different token ids in different windows "
            "(non-deterministic kernels or batching order): compare engines on the first window only"
        ]
    return []

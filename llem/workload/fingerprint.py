"""Fingerprints of what a job fed its engine and what came back: the sha256 of token ids.

The encoding is fixed so that anyone can recompute it without llem: the ids as a JSON list of
lists (one list per request, in request order), no spaces, UTF-8, e.g. `[[1,2,3],[4,5]]`.
Two runs with the same hash saw exactly the same prompt token ids, whatever the engine.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Optional, Sequence


def ids_sha256(ids: Iterable[Sequence[int]]) -> str:
    """sha256 (hex) of token id lists in the encoding above."""
    blob = json.dumps([[int(i) for i in row] for row in ids], separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def token_ids_sha256(requests) -> Optional[str]:
    """The hash of the exact prompt token ids of `requests` (offline Requests with .input_ids, or
    server-mode RequestInputs whose .prompt is a list of ids); None when a request carries text
    instead (a server tokenizes it: its ids are not known here)."""
    rows = [getattr(r, "input_ids", None) or getattr(r, "prompt", None) for r in requests]
    if any(not isinstance(row, (list, tuple)) for row in rows):
        return None
    return ids_sha256(rows)


def output_ids_sha256(output_ids: Optional[Sequence[Sequence[int]]]) -> Optional[str]:
    """The hash of the generated token ids of one pass, where the engine handed them over; else None."""
    if output_ids is None:
        return None
    return ids_sha256(output_ids)

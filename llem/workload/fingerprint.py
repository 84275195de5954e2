"""The sha256 of the exact prompt token ids a job fed its engine, in one fixed encoding that
anyone can recompute without llem: for each request in order, its number of ids and then its
ids, all as little-endian unsigned 32-bit integers (llem.results.outputs.ids_sha256, the encoding
of the output hashes). E.g. requests [1, 2] and [3] hash the bytes of uint32 [2, 1, 2, 1, 3].
Two runs with the same hash saw exactly the same prompt token ids, whatever the engine."""

from __future__ import annotations

from typing import Optional

from llem.results.outputs import ids_sha256


def token_ids_sha256(requests) -> Optional[str]:
    """The hash of the prompt token ids of `requests` (offline Requests with .input_ids, or
    server-mode RequestInputs whose .prompt is a list of ids); None when a request carries text
    instead (a server tokenizes it: its ids are not known here)."""
    rows = [getattr(r, "input_ids", None) or getattr(r, "prompt", None) for r in requests]
    if any(not isinstance(row, (list, tuple)) for row in rows):
        return None
    return ids_sha256([x for row in rows for x in (len(row), *row)])

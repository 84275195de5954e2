"""Reading a JSONL file line by line, with one sentence for a line that is not JSON."""

from __future__ import annotations

import json

from llem.errors import UserError


def jsonl_objects(path: str, fh, shape: str):
    """(line number, parsed object) for each non-blank line of a JSONL file; a line that is not JSON is
    one sentence ending in `shape` (what each line must be)."""
    for lineno, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"workload.path={path} line {lineno} is not valid JSON ({exc.msg}): {shape}.") from None

"""One request of a workload, as every engine receives it (token ids, and the text where there is one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class Request:
    id: str
    prompt: Optional[str]  # None for synthetic token-id prompts
    input_ids: list[int]

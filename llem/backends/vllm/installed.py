"""A file of the installed vLLM, found without importing it (importing vLLM imports torch): llem reads
vLLM's own declarations (quantisation methods, SpeculativeConfig) from its source with `ast`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional


def installed_file(relative: Path) -> Optional[Path]:
    """vllm/<relative> of the installed vLLM, or None where vLLM (or that file) is not there."""
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        if (Path(folder) / relative).is_file():
            return Path(folder) / relative
    return None

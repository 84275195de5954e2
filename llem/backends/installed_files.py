"""Where an installed engine keeps a file, found without importing the engine (importing vLLM or
SGLang pulls in torch): used to pick the `vllm serve` / `sglang serve` command lines where the
installed release has them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional


def package_file(package: str, relative: str) -> Optional[Path]:
    """<installed package folder>/<relative> if that file exists; None where either is absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None

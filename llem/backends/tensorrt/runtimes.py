"""Which TensorRT-LLM runtimes the installed release has, found without importing it.

From 1.0 the LLM API's default is the PyTorch runtime (`tensorrt_llm.LLM`, trtllm-serve
--backend pytorch); the TensorRT-engine path lives on as `tensorrt_llm._tensorrt_engine.LLM`
(BuildConfig, TrtLlmArgs) through 1.2 and is gone from TensorRT-LLM's main branch.
"""

from __future__ import annotations

import importlib.util
from typing import Optional

from llem.backends.installed_files import package_file

TRT_ENGINE_MODULE = "_tensorrt_engine/__init__.py"


def trt_runtime_refusal() -> Optional[str]:
    """One sentence when the installed TensorRT-LLM has no TensorRT-engine runtime; None when it has
    one or when TensorRT-LLM is not installed here (the job then stops at the missing extra)."""
    if importlib.util.find_spec("tensorrt_llm") is None or package_file("tensorrt_llm", TRT_ENGINE_MODULE) is not None:
        return None
    return (
        f"backend.runtime=trt needs TensorRT-LLM's TensorRT-engine runtime (tensorrt_llm._tensorrt_engine), which the "
        f"installed TensorRT-LLM {_version()} does not have: use backend.runtime=pytorch (the default)."
    )


def _version() -> str:
    import importlib.metadata as md

    for dist in ("tensorrt_llm", "tensorrt-llm"):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return "(version unknown)"

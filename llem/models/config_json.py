"""A model's config.json facts (its shape) without loading the model or touching the network:
the shipped architecture for random weights, the built-in model's cached folder, a local folder,
or the Hugging Face cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from llem.models.archs import load_arch
from llem.models.builtin import SMOLLM2_VERSION, TINY_VERSION
from llem.paths import cache_dir

_BUILTIN_DIRS = {"tiny": TINY_VERSION, "smollm2-135m": SMOLLM2_VERSION}


def model_config(model) -> tuple[Optional[dict], Optional[str]]:
    """(config.json as a dict, None) or (None, the reason it is not known here)."""
    if model.weights == "random" and model.arch:
        return {k: v for k, v in load_arch(model.arch).items() if not k.startswith("_")}, None
    if model.source == "path":
        return _read(Path(model.id) / "config.json")
    if model.source == "builtin":
        path = cache_dir() / "models" / _BUILTIN_DIRS.get(model.id, model.id) / "config.json"
        if path.is_file():
            return _read(path)
        return None, f"model={model.name} has no transformers folder in llem's cache (a GGUF-only run)"
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None, "huggingface_hub is not installed: the hub model's config.json cannot be read"
    path = try_to_load_from_cache(model.id, "config.json", revision=model.revision)
    if isinstance(path, str):
        return _read(Path(path))
    return None, f"{model.id}'s config.json is not in the Hugging Face cache"


def _read(path: Path) -> tuple[Optional[dict], Optional[str]]:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{path} could not be read ({exc})"
    return cfg.get("text_config", cfg), None  # multimodal configs nest the decoder's

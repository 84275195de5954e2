"""Where a serving engine (vLLM, SGLang, TensorRT-LLM) loads the model from.

These engines take a folder or hub id rather than a model object. Pretrained models resolve as
for the transformers backend. Random-weight models (model.weights=random) become a folder with
the shipped architecture's config.json and llem's tiny tokenizer, loaded with the engines'
`load_format="dummy"` (random weights of the real shape: cost depends on shape, not values).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from llem.models.archs import load_arch
from llem.models.builtin import copy_tiny_tokenizer
from llem.models.loading import model_location
from llem.paths import cache_dir

RANDOM_DIR_VERSION = "v2"  # v2: the tiny tokenizer with its chat template


@dataclass(frozen=True)
class ModelSource:
    model: str  # folder or hub id
    tokenizer: Optional[str]  # None: the model's own
    load_format: str  # "auto" or "dummy"
    label: str


# Built-in models whose weights are random (llem/models/builtin.py): their config says weights
# "pretrained" only because model.weights=random means "build a hub architecture" (llem/config/checks.py).
RANDOM_BUILTINS = frozenset({"tiny"})


def weights_label(model: dict) -> str:
    """What a model's weights are, for people: "random" or "pretrained"."""
    if model.get("weights") == "random" or (model.get("source") == "builtin" and model.get("id") in RANDOM_BUILTINS):
        return "random"
    return "pretrained"


def model_source(model) -> ModelSource:
    if model.weights == "random":
        path = str(random_model_dir(model.arch))
        return ModelSource(path, path, "dummy", f"random weights, shape of {model.arch} (llem tiny tokenizer)")
    location = model_location(model)
    return ModelSource(location, model.tokenizer, "auto", location)


def random_model_dir(arch: str) -> Path:
    """A config-only model folder for `arch`, built once into llem's cache (atomic rename)."""
    final = cache_dir() / "models" / f"random-{arch}-{RANDOM_DIR_VERSION}"
    if (final / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".random-{arch}-", dir=final.parent))
    try:
        _write_random_dir(arch, tmp)
        try:
            tmp.rename(final)
        except OSError:  # another job built it first
            if not (final / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _write_random_dir(arch: str, out: Path) -> None:
    config = {k: v for k, v in load_arch(arch).items() if not k.startswith("_")}
    config.setdefault("torch_dtype", "bfloat16")
    (out / "config.json").write_text(json.dumps(config, indent=2))
    copy_tiny_tokenizer(out)

"""Resolve a ModelSpec to something transformers can load (engine-neutral helpers)."""

from __future__ import annotations

import logging
from pathlib import Path

from llem.errors import UserError
from llem.models.archs import load_arch
from llem.models.builtin import materialize

log = logging.getLogger(__name__)


def model_location(model) -> str:
    """Folder or hub id holding the pretrained model (not used for random weights)."""
    if model.source == "builtin":
        return str(materialize(model.id))
    if model.source == "path":
        return str(Path(model.id).expanduser())
    return model.id


def random_config(model):
    """A transformers config for the shipped architecture, for random-weight models."""
    from transformers import AutoConfig

    arch = {k: v for k, v in load_arch(model.arch).items() if not k.startswith("_")}
    model_type = arch.pop("model_type")
    arch.pop("architectures", None)
    return AutoConfig.for_model(model_type, **arch)


def load_tokenizer(model):
    """The model's tokenizer; for random weights without hub access, llem's tiny tokenizer.

    A random-weight model's cost depends on token counts, not on which tokens: use
    workload.source=synthetic with it for exact, tokenizer-independent input lengths.
    """
    from transformers import AutoTokenizer

    name = model.tokenizer or (model.id if model.weights == "random" else model_location(model))
    try:
        tok = AutoTokenizer.from_pretrained(name, revision=model.revision, trust_remote_code=model.trust_remote_code)
        label = name
    except (OSError, ValueError) as exc:
        if model.weights != "random":
            raise UserError(
                f"model.id={model.id} could not be loaded ({str(exc).splitlines()[0]}): check the id, your hub access, or use model.source=path."
            ) from None

        log.warning("tokenizer of %s unavailable offline; using llem's tiny tokenizer (token ids only matter for counts)", name)
        tok = AutoTokenizer.from_pretrained(str(materialize("tiny")))
        label = "llem tiny BPE (fallback: hub tokenizer unavailable)"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    tok.padding_side = "left"
    return tok, label

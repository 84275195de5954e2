"""backend=llamacpp: validation, llem's GGUF converter, exact output lengths, and real runs of
llama.cpp (llama-cpp-python, installed by .ci/install.d/30-llamacpp.sh) on SmolLM2 and tiny."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, llem_env, run_llem, flags_beside_host_load

from llem.errors import UserError

# One thread: llama.cpp's spinning workers slow down sharply when other processes share the cores.
SMALL = [
    "backend.n_threads=1",
    "workload.num_prompts=2",
    "workload.batch_size=2",
    "workload.input_tokens=24",
    "workload.output_tokens=8",
    "run.repeats=1",
    "run.warmup=1",
    "energy=none",
    "energy.baseline_s=0",
    "tracking=none",
]
needs_engine = pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh")


def compose_spec(*overrides: str):
    """The JobSpec the CLI would build from these overrides (validation included)."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from llem.config.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = compose(config_name="config", overrides=["backend=llamacpp", "hardware=cpu", *overrides])
    return build_spec(OmegaConf.to_container(cfg, resolve=True))


# ------------------------------------------------------------------ validation (no engine needed)


@pytest.mark.parametrize(
    "overrides, sentence",
    [
        (["backend.n_gpu_layers=-1"], "backend.n_gpu_layers=-1 offloads layers to a GPU, but hardware=cpu"),
        (["backend.type_v=q8_0"], "backend.type_v=q8_0 (a quantised V cache) needs backend.flash_attn=true"),
        (["backend.n_ctx=64", "workload.input_tokens=60"], "backend.n_ctx=64 cannot hold"),
        (["backend.n_ubatch=1024"], "backend.n_ubatch=1024 is larger than backend.n_batch=512"),
        (["+backend.llama_kwargs.n_threads=3"], "backend.llama_kwargs.n_threads is not passed through: use backend.n_threads"),
        (["model=llama3"], "backend=llamacpp needs a GGUF file for model=llama3"),
        (["model=qwen2.5-0.5b", "model.weights=random"], "is a qwen2 model, which llem's GGUF converter does not handle"),
        (["model=tiny", "++model.gguf=/no/such/file.gguf"], "model.gguf=/no/such/file.gguf does not exist"),
        (["model=tiny", "++model.gguf_type=q4_k_m"], "model.gguf_type=q4_k_m is not a type llem can convert model=tiny to"),
        (["model=smollm2-135m", "++model.gguf_type=q8_0"], "which ships only a q4_1 GGUF"),
        (
            ["workload.batch_size=16", "workload.num_prompts=16", "backend.n_batch=8", "backend.n_ubatch=8"],
            "workload.batch_size=16 is more than backend.n_batch allows",
        ),
        (
            ["workload.batch_size=300", "workload.num_prompts=300", "backend.n_batch=1024"],
            "workload.batch_size=300 is more than llama.cpp's 256 sequences per context allows",
        ),
        (["backend.slots=4"], "backend.slots=4 sets llama-server's parallel slots, but backend.server=python"),
    ],
)
def test_bad_settings_fail_validation_with_one_sentence(overrides, sentence):
    with pytest.raises(UserError) as err:
        compose_spec(*overrides)
    msg = str(err.value)
    assert sentence in msg and "\n" not in msg and msg.endswith(".")


def test_folder_with_several_ggufs_asks_which(tmp_path):
    for name in ("m-Q4_K_M.gguf", "m-Q8_0.gguf"):
        (tmp_path / name).write_bytes(b"GGUF")
    with pytest.raises(UserError, match="holds 2 .gguf files"):
        compose_spec("model=tiny", f"++model.gguf={tmp_path}")
    from llem.backends.llamacpp.gguf import _plan
    from llem.config.spec import ModelSpec

    model = ModelSpec(name="m", source="hub", id="org/m", gguf=str(tmp_path), gguf_type="q8_0")
    assert _plan(model) == ("file", tmp_path / "m-Q8_0.gguf")


def test_gguf_type_is_case_insensitive():
    from llem.backends.llamacpp.gguf import check_gguf
    from llem.config.spec import ModelSpec

    check_gguf(ModelSpec(name="smollm2-135m", source="builtin", id="smollm2-135m", gguf="builtin", gguf_type="Q4_1"))
    check_gguf(ModelSpec(name="tiny", source="builtin", id="tiny", gguf_type="Q8_0"))
    with pytest.raises(UserError, match="model.gguf_type=Q4_K_M is not a type llem can convert model=tiny to"):
        check_gguf(ModelSpec(name="tiny", source="builtin", id="tiny", gguf_type="Q4_K_M"))


def test_bad_setting_exits_2_without_traceback(tmp_path):
    proc = run_llem(["backend=llamacpp", "model=tiny", "hardware=cpu", "backend.type_k=q3"], tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1 and "backend.type_k=q3 is not valid" in lines[0] and "Traceback" not in proc.stdout


# ------------------------------------------------------------------ the converter


@needs_engine
def test_tiny_gguf_matches_transformers_tokens_and_logits():
    """llem's own f32 conversion: llama.cpp must see the same prompt ids and compute the same logits."""
    import llama_cpp
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llem.models.builtin import materialize
    from llem.backends.llamacpp.gguf import converted_builtin
    from llem.workload.prompts import builtin_prompts

    folder = materialize("tiny")
    hf_tok = AutoTokenizer.from_pretrained(folder)
    hf = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    llm = llama_cpp.Llama(str(converted_builtin("tiny", "f32")), n_ctx=512, n_threads=1, verbose=False)
    try:
        prompts = builtin_prompts()[:6] + ["naïve café — 3.14 tokens, twice:  spaces\tand\nnewlines"]
        for text in prompts:
            assert llm.tokenize(text.encode(), add_bos=True, special=True) == hf_tok(text)["input_ids"], text
        ids = hf_tok(prompts[0])["input_ids"][:40]
        with torch.inference_mode():
            want = hf(torch.tensor([ids])).logits[0, -1].numpy()
        llm.reset()
        llm.eval(ids)
        got = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(llm.n_vocab(),)).copy()
        scale = np.abs(want).max()
        assert np.abs(got - want).max() < 1e-3 * scale, (np.abs(got - want).max(), scale)
        assert int(got.argmax()) == int(want.argmax())
    finally:
        llm.close()


@needs_engine
def test_smollm2_prompt_ids_match_the_pytorch_backend():
    """A backend=pytorch,llamacpp sweep compares the same prompts only if both tokenize alike."""
    import llama_cpp
    from transformers import AutoTokenizer

    from llem.models.builtin import materialize, smollm2_gguf_path
    from llem.workload.prompts import builtin_prompts

    hf = AutoTokenizer.from_pretrained(materialize("smollm2-135m"))
    llm = llama_cpp.Llama(str(smollm2_gguf_path()), vocab_only=True, verbose=False)
    try:
        for text in builtin_prompts() + ["<|im_start|>user\nhi<|im_end|>\n", "naïve café — 3.14  x\t\ny"]:
            assert llm.tokenize(text.encode(), add_bos=True, special=True) == hf(text)["input_ids"], text
    finally:
        llm.close()


# ------------------------------------------------------------------ exact output lengths


@needs_engine
def test_fixed_length_is_honoured_past_end_of_generation():
    """SmolLM2 answers a yes/no chat turn and ends it; the engine's own completion stops there,
    llem's backend must still return exactly output_tokens tokens per request."""
    from llem.backends.base import Request
    from llem.backends.llamacpp.backend import LlamaCppBackend

    spec = compose_spec(
        "model=smollm2-135m",
        "workload.output_tokens=24",
        "workload.num_prompts=1",
        "workload.batch_size=1",
        "backend.n_threads=1",
    )
    backend = LlamaCppBackend(spec, "cpu", [])
    backend.load()
    try:
        prompt = "<|im_start|>user\nAnswer with one word, yes or no: is water wet?<|im_end|>\n<|im_start|>assistant\n"
        ids = backend.encode(prompt)
        native = backend.llm.create_completion(ids, max_tokens=24, temperature=0.0)
        assert native["choices"][0]["finish_reason"] == "stop", native  # precondition: the model does end early
        assert native["usage"]["completion_tokens"] < 24
        gen = backend.generate([Request(id="r0", prompt=prompt, input_ids=ids)])
        assert gen.output_tokens == [24] and gen.input_tokens == [len(ids)]
        assert len(gen.batches) == 1 and gen.batches[0].ttft_s is not None
        assert 0 < gen.batches[0].ttft_s < gen.batches[0].latency_s
        # greedy and prefix-identical to the engine's own answer up to where it stopped
        text = backend.llm.detokenize(gen.output_ids[0]).decode("utf-8", errors="replace")
        assert text.startswith(native["choices"][0]["text"].strip()[:3])
        assert set(backend.eog_ids) & set(backend.special_ids())
    finally:
        backend.close()


# ------------------------------------------------------------------ batching


@needs_engine
def test_a_batch_of_four_gives_each_request_the_tokens_it_gets_alone():
    """workload.batch_size=4: four prompts of different lengths decode together in one llama_batch (a
    sequence id each, their own KV cells and sampler); greedy, each must get exactly the tokens it gets
    when it runs alone, and exactly output_tokens of them. The same loaded model serves both batch sizes."""
    from llem.backends.base import Request
    from llem.backends.llamacpp.backend import LlamaCppBackend
    from llem.workload.prompts import builtin_prompts

    def spec(bs):
        return compose_spec(
            "model=smollm2-135m",
            "workload.output_tokens=24",
            "workload.num_prompts=4",
            f"workload.batch_size={bs}",
            "backend.n_threads=1",
        )

    backend = LlamaCppBackend(spec(1), "cpu", [])
    backend.load()
    try:
        requests = [Request(id=f"r{i}", prompt=p, input_ids=backend.encode(p)) for i, p in enumerate(builtin_prompts()[:4])]
        assert len({len(r.input_ids) for r in requests}) > 1  # prompts of different lengths share the batch
        alone = backend.generate(requests)
        backend.rebind(spec(4))
        together = backend.generate(requests)
        described = backend.describe()["effective_settings"]
    finally:
        backend.close()
    assert [len(b_) for b_ in (alone.batches, together.batches)] == [4, 1]
    assert together.batches[0].requests == 4 and together.batches[0].output_tokens == 4 * 24
    assert together.batches[0].input_tokens == sum(len(r.input_ids) for r in requests)
    assert 0 < together.batches[0].ttft_s < together.batches[0].latency_s
    assert alone.output_tokens == together.output_tokens == [24] * 4
    assert together.output_ids == alone.output_ids
    assert described["n_seq_max"] == described["batch_size"] == 4 and described["n_ctx"] == 4 * described["n_ctx_seq"]


@needs_engine
def test_prompts_longer_than_n_batch_together_are_prefilled_in_several_decodes():
    """Four prompts with more tokens together than n_batch: the prefill spans several llama_decode calls
    (a prompt's last token may land in any of them) and still gives each its own greedy answer."""
    from llem.backends.base import Request
    from llem.backends.llamacpp.backend import LlamaCppBackend
    from llem.workload.prompts import builtin_prompts

    def spec(bs):
        return compose_spec(
            "model=smollm2-135m",
            "workload.output_tokens=6",
            "workload.num_prompts=4",
            f"workload.batch_size={bs}",
            "backend.n_threads=1",
            "backend.n_batch=16",
            "backend.n_ubatch=16",
        )

    backend = LlamaCppBackend(spec(4), "cpu", [])
    backend.load()
    try:
        requests = [Request(id=f"r{i}", prompt=p, input_ids=backend.encode(p)) for i, p in enumerate(builtin_prompts()[4:8])]
        assert sum(len(r.input_ids) for r in requests) > 2 * 16
        together = backend.generate(requests)
        backend.rebind(spec(1))
        alone = backend.generate(requests)
    finally:
        backend.close()
    assert together.output_tokens == [6] * 4 and together.output_ids == alone.output_ids


# ------------------------------------------------------------------ real runs through the CLI


def _single_result(root) -> dict:
    found = list((root / "outputs" / "runs").glob("*/result.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


@needs_engine
def test_smollm2_end_to_end_on_cpu(tmp_path):
    proc = run_llem(["backend=llamacpp", "model=smollm2-135m", "hardware=cpu", *SMALL], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    r = _single_result(tmp_path)
    assert r["status"] == "ok" and r["identity"]["engine"] == "llama.cpp"
    (w,) = r["windows"]
    assert w["output_tokens"] == 2 * 8 and w["requests"] == 2
    assert r["metrics"]["output_tokens_per_s"] > 0
    assert r["metrics"]["energy_j_per_output_token"] is None and r["metrics"]["energy_reason"]
    assert len(w["batch_latency_s"]) == 1  # both requests in one engine call: one llama.cpp batch (batch_size=2)
    eng = r["engine"]
    assert eng["model"]["gguf_type"] == "q4_1" and eng["model"]["gguf"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    s = eng["effective_settings"]
    assert s["n_gpu_layers_offloaded"] == 0 and s["n_ctx_seq"] == 512 and s["n_ctx"] == 2 * 512 and s["n_threads"] == 1
    assert s["batching"].startswith("batched") and s["batch_size"] == s["n_seq_max"] == 2
    assert flags_beside_host_load(r) == [], r["validity"]


@needs_engine
def test_tiny_converted_end_to_end(tmp_path):
    proc = run_llem(
        ["backend=llamacpp", "model=tiny", "hardware=cpu", "++model.gguf_type=q8_0", *SMALL, "workload.output_tokens=16"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    r = _single_result(tmp_path)
    assert r["windows"][0]["output_tokens"] == 2 * 16
    assert r["engine"]["model"]["gguf_type"] == "q8_0"
    assert "converted by llem" in r["engine"]["model"]["gguf_origin"]


@needs_engine
def test_gguf_type_mismatch_is_a_user_error(tmp_path):
    from llem.backends.llamacpp.gguf import converted_builtin

    path = converted_builtin("tiny", "f16")
    proc = run_llem(
        ["backend=llamacpp", "model=tiny", "hardware=cpu", f"++model.gguf={path}", "++model.gguf_type=q8_0", *SMALL], tmp_path
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "model.gguf_type=q8_0 does not match tiny-f16.gguf, which is f16" in proc.stdout


def test_help_does_not_import_llama_cpp():
    code = (
        "import sys, llem.registry as r, llem.backends.llamacpp.config; "
        "print('llama_cpp' in sys.modules, 'torch' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=llem_env(), capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]

"""llama.cpp's server held to the offline backend's rules: last-position logits only, and every
end-of-generation token kept out of a fixed-length request (not just token_eos(), which min_tokens blocks)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from specs import compose_spec

pytest.importorskip("llama_cpp")


def _smollm2():
    from llem.backends.llamacpp.gguf import resolve_gguf
    from llem.config.spec import ModelSpec

    gguf, _ = resolve_gguf(ModelSpec(name="smollm2-135m", source="builtin", id="smollm2-135m", gguf="builtin"))
    return str(gguf)


def test_server_plan_biases_away_the_same_eog_tokens_as_the_offline_backend():
    from llem.backends.llamacpp.vocab import scan
    from llem.serving.plan import plan_for

    plan = plan_for(compose_spec("backend=llamacpp", "model=smollm2-135m", "backend.n_threads=1"), "cpu", 8000)
    offline = scan(_smollm2())  # the offline backend's rule: llama_vocab_is_eog over the whole vocabulary
    assert len(offline) > 1  # SmolLM2 has more than token_eos(): min_tokens alone would let the others end a request
    assert plan.request_extras["logit_bias"] == {str(t): -1e9 for t in offline}
    assert plan.request_extras["logit_bias_type"] == "input_ids" and plan.fixed_length == ("logit_bias",)
    argv = plan.argv
    assert argv[argv.index("--logits_all") + 1] == "False"  # as offline; the server's default is True


def _post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_the_real_server_honours_the_token_id_bias(tmp_path):
    """The mechanism the plan relies on: a biased token id is never picked by the server."""
    pytest.importorskip("starlette_context")
    from llem.backends.llamacpp.server import command
    from llem.serving.servers import free_port, start_server

    settings = {
        "n_batch": 512,
        "n_ubatch": 512,
        "n_threads_batch": None,
        "flash_attn": False,
        "use_mmap": True,
        "seed": 0,
        "type_k": None,
        "type_v": None,
    }
    plan = command(settings, None, _smollm2(), free_port(), 512, 0, 1)
    server = start_server(plan, tmp_path, ready_timeout_s=120)
    try:
        body = {"prompt": "The capital of France is", "max_tokens": 1, "temperature": 0.0, **plan.request_extras}
        first = _post(plan.url + "/v1/completions", body)["choices"][0]["text"]
        ids = _post(plan.url + "/extras/tokenize", {"input": first})["tokens"]
        biased = dict(body, logit_bias={str(t): -1e9 for t in ids}, logit_bias_type="input_ids")
        again = _post(plan.url + "/v1/completions", biased)["choices"][0]["text"]
        assert first and again != first
    finally:
        server.stop()


def _stream(url: str, body: dict) -> tuple[int, str]:
    req = urllib.request.Request(
        url + "/v1/completions", json.dumps(dict(body, stream=True)).encode(), {"Content-Type": "application/json"}
    )
    n, finish = 0, None
    with urllib.request.urlopen(req, timeout=120) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                choice = json.loads(line[6:])["choices"][0]
                n += bool(choice["text"])
                finish = choice["finish_reason"] or finish
    return n, finish


@pytest.mark.slow
def test_the_plans_bias_holds_every_request_to_its_length_and_min_tokens_beside_it_would_undo_it(tmp_path):
    """SmolLM2 wants to end several shipped prompts at once (<|im_end|>). The plan's bias keeps all of them
    to 8 tokens; adding min_tokens to the same request makes llama-cpp-python drop both processors."""
    import concurrent.futures as cf

    pytest.importorskip("starlette_context")
    from llem.backends.llamacpp.server import command
    from llem.backends.llamacpp.vocab import eog_ids
    from llem.serving.servers import free_port, start_server
    from llem.workload.prompts import builtin_prompts

    gguf = _smollm2()
    settings = {
        "n_batch": 512,
        "n_ubatch": 512,
        "n_threads_batch": None,
        "flash_attn": False,
        "use_mmap": True,
        "seed": 0,
        "type_k": None,
        "type_v": None,
    }
    plan = command(settings, None, gguf, free_port(), 512, 0, 1, eog_ids=eog_ids(gguf))
    assert plan.fixed_length == ("logit_bias",)
    body = {"max_tokens": 8, "temperature": 0.0, **plan.request_extras}
    server = start_server(plan, tmp_path, ready_timeout_s=120)
    try:
        prompts = builtin_prompts()[:10]
        with cf.ThreadPoolExecutor(4) as pool:
            held = list(pool.map(lambda p: _stream(plan.url, dict(body, prompt=p)), prompts))
            both = list(pool.map(lambda p: _stream(plan.url, dict(body, prompt=p, min_tokens=8)), prompts))
    finally:
        server.stop()
    assert held == [(8, "length")] * len(prompts)
    assert any(n < 8 for n, _ in both)  # the upstream bug this plan works around

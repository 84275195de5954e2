"""Server-mode requests without a server: chat and completions bodies, the chat token rule, synthetic
token-id prompts, and validation of endpoint/source/backend combinations."""

from __future__ import annotations

import pytest
from specs import compose_spec

from llem.errors import UserError
from llem.workload.loadgen import RequestInput, RequestOutput, _chunk_tokens


# -- the chat token rule: the role-only opening delta and the finish-only closing delta carry no token


def _chat(delta: dict, finish=None, **extra) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}]}


def test_chat_chunks_llamacpp_shape():
    # llama-cpp-python: {"role"} first, then {"content"} per token, then {} with the finish reason
    assert _chunk_tokens(_chat({"role": "assistant"})) == 0
    assert _chunk_tokens(_chat({"content": " Paris"})) == 1
    assert _chunk_tokens(_chat({"content": ""})) == 1  # a token whose text is still incomplete (UTF-8)
    assert _chunk_tokens(_chat({}, "length")) == 0


def test_chat_chunks_vllm_shape():
    # vLLM: role with empty content first (no token_ids), tokens with token_ids, the last with finish_reason
    assert _chunk_tokens(_chat({"role": "assistant", "content": ""})) == 0
    assert _chunk_tokens(_chat({"content": "ab"}, token_ids=[4, 5])) == 2  # merged under load
    assert _chunk_tokens(_chat({"content": "c"}, "length", token_ids=[6])) == 1
    assert _chunk_tokens(_chat({"content": " end"}, "length")) == 1  # without token_ids: text counts
    assert _chunk_tokens(_chat({"reasoning_content": "hmm"})) == 1
    assert _chunk_tokens(_chat({"role": "assistant", "content": "Hi"})) == 1  # role and first token together
    assert _chunk_tokens({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 9}}) == 0


def test_chat_and_completion_bodies():
    chat = RequestInput("c", "Hello?", 16, "chat", ("max_completion_tokens",))
    assert chat.path == "/v1/chat/completions"
    assert chat.body("m") == {
        "model": "m",
        "messages": [{"role": "user", "content": "Hello?"}],
        "max_completion_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    ids = RequestInput("s", [5, 6, 7], 8)
    assert ids.path == "/v1/completions"
    assert ids.body("m") == {
        "model": "m",
        "prompt": [5, 6, 7],
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


# -- synthetic token-id prompts


def test_synthetic_inputs_are_exact_seeded_valid_ids():
    from llem.serving.requests import build_inputs, token_space

    spec = compose_spec("backend=vllm", "workload.source=synthetic", "workload.input_tokens=37", "workload.num_prompts=5")
    vocab, special = token_space(spec)
    inputs = build_inputs(spec)
    assert [len(i.prompt) for i in inputs] == [37] * 5 and all(i.endpoint == "completions" for i in inputs)
    ids = {t for i in inputs for t in i.prompt}
    assert all(isinstance(t, int) and 0 <= t < vocab for t in ids) and not ids & set(special)
    assert [i.prompt for i in build_inputs(spec)] == [i.prompt for i in inputs]  # seeded
    other = compose_spec(
        "backend=vllm", "workload.source=synthetic", "workload.input_tokens=37", "workload.num_prompts=5", "workload.seed=1"
    )
    assert [i.prompt for i in build_inputs(other)] != [i.prompt for i in inputs]


def test_synthetic_ids_equal_the_offline_ones_for_the_same_tokenizer():
    from transformers import AutoTokenizer

    from llem.models.source import model_source
    from llem.serving.requests import build_inputs
    from llem.workload.prompts import build_requests

    spec = compose_spec("backend=vllm", "workload.source=synthetic", "workload.input_tokens=9", "workload.num_prompts=3")
    tok = AutoTokenizer.from_pretrained(model_source(spec.model).model)
    offline = build_requests(spec.workload, tok.encode, len(tok), tok.all_special_ids)
    assert [i.prompt for i in build_inputs(spec)] == [r.input_ids for r in offline]


def test_prompt_token_check_flags_a_server_that_counts_otherwise():
    from llem.serving.metrics import prompt_token_flags, token_accounting

    def done(expected, usage):
        return RequestOutput("r", 0.0, sent_s=0.0, done_s=1.0, usage_prompt_tokens=usage, expected_prompt_tokens=expected)

    good = [done(8, 8), done(8, 8)]
    assert prompt_token_flags(good, "run 0") == []
    assert token_accounting(good)["requests_with_other_prompt_tokens"] == 0
    bad = good + [done(8, 9)]
    [flag] = prompt_token_flags(bad, "run 0")
    assert "1 token-id requests" in flag and "8 ids sent, usage.prompt_tokens=9" in flag
    acc = token_accounting(bad)
    assert acc["prompt_tokens_sent"] == 24 and acc["prompt_tokens_server"] == 25
    assert "prompt_tokens_sent" not in token_accounting([done(None, 30)])  # text prompts: nothing to check


def test_chat_inputs_use_the_servers_length_field():
    from llem.backends.llamacpp.server import command as llamacpp_plan
    from llem.serving.plan import ServerPlan
    from llem.serving.requests import build_inputs

    spec = compose_spec("backend=llamacpp", "workload.endpoint=chat", "workload.num_prompts=3")
    plan = llamacpp_plan(
        {
            "n_batch": 8,
            "n_ubatch": 8,
            "n_threads_batch": None,
            "flash_attn": False,
            "use_mmap": True,
            "seed": 0,
            "type_k": None,
            "type_v": None,
        },
        None,
        "/m.gguf",
        1,
        512,
        0,
        1,
    )
    inputs = build_inputs(spec, plan)
    assert [i.endpoint for i in inputs] == ["chat"] * 3 and inputs[0].length_fields == ("max_tokens",)
    assert isinstance(inputs[0].prompt, str) and inputs[0].body("m")["messages"][0]["role"] == "user"
    # attached (no plan): both names, the server takes the one it knows
    assert build_inputs(spec)[0].length_fields == ServerPlan.chat_length_fields == ("max_tokens", "max_completion_tokens")


# -- validation


@pytest.mark.parametrize(
    "overrides, sentence",
    [
        (
            ["backend=vllm", "workload.source=synthetic", "workload.endpoint=chat"],
            "workload.source=synthetic cannot be sent with workload.endpoint=chat",
        ),
        (
            ["backend=llamacpp", "workload.source=synthetic"],
            "workload.source=synthetic is not supported by the backend=llamacpp server",
        ),
        (
            ["backend=llamacpp", "workload.source=synthetic", "workload.server_url=http://127.0.0.1:9"],
            "workload.source=synthetic is not supported by the backend=llamacpp server",
        ),
        (["backend=vllm", "workload.endpoint=responses"], "workload.endpoint=responses is not valid"),
    ],
)
def test_bad_endpoint_and_source_combinations_are_one_sentence(overrides, sentence):
    with pytest.raises(UserError) as err:
        compose_spec(*overrides)
    assert sentence in str(err.value) and "\n" not in str(err.value) and str(err.value).endswith(".")


def test_endpoint_leaves_offline_hashes_alone_and_changes_server_ones():
    from llem.config.spec import WorkloadSpec

    offline = compose_spec("backend=vllm").model_copy(update={"workload": WorkloadSpec(name="w", endpoint="chat")})
    assert "endpoint" not in offline.identity()["workload"]
    assert compose_spec("backend=vllm", "workload.endpoint=chat").config_hash() != compose_spec("backend=vllm").config_hash()
    compose_spec("backend=vllm", "workload.source=synthetic")  # accepted: vLLM takes token ids

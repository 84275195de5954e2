"""workload=chat: ShareGPT and OpenAI-messages JSONL files (single- and multi-turn) read, checked,
sampled by seed and templated once with the model's real chat template (SmolLM2-135M-Instruct's
tokenizer, shipped with llem); bad files and settings refused in one sentence."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from llem.cli import prevalidate
from llem.errors import UserError
from llem.workload.chat import read_chat
from llem.workload.fingerprint import token_ids_sha256

BASE = ["model=smollm2-135m", "hardware=cpu", "tracking=none"]


def write_dataset(path, n=12):
    """A small file of both shapes: single-turn, multi-turn, one ending on the user, a system message."""
    lines = []
    for i in range(n):
        if i % 3 == 0:  # ShareGPT, single turn
            lines.append(
                {
                    "id": f"s{i}",
                    "conversations": [
                        {"from": "human", "value": f"What is {i} plus {i}?"},
                        {"from": "gpt", "value": f"{i} plus {i} is {2 * i}. " * (i + 1)},
                    ],
                }
            )
        elif i % 3 == 1:  # ShareGPT, multi-turn with a system message
            lines.append(
                {
                    "conversations": [
                        {"from": "system", "value": "Be brief."},
                        {"from": "human", "value": f"Name a colour ({i})."},
                        {"from": "gpt", "value": "Blue."},
                        {"from": "human", "value": "And another one?"},
                        {"from": "gpt", "value": "Green, like grass in spring. " * i},
                    ]
                }
            )
        else:  # OpenAI messages, multi-turn
            lines.append(
                {
                    "messages": [
                        {"role": "user", "content": f"Count to {i}."},
                        {"role": "assistant", "content": " ".join(str(k) for k in range(i))},
                        {"role": "user", "content": "Now backwards."},
                    ]
                }
            )
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_both_shapes_single_and_multi_turn(tmp_path):
    items = read_chat(str(write_dataset(tmp_path / "chat.jsonl")))
    assert len(items) == 12
    single, multi, ends_on_user = items[0], items[1], items[2]
    assert single.messages == (("user", "What is 0 plus 0?"),) and single.reply == "0 plus 0 is 0. " and single.turns == 1
    assert multi.messages[0] == ("system", "Be brief.") and multi.turns == 2 and multi.reply.startswith("Green")
    assert multi.messages[-1] == ("user", "And another one?")  # the history goes with the last user message
    assert ends_on_user.reply is None and ends_on_user.turns == 2 and ends_on_user.messages[1][0] == "assistant"


@pytest.mark.parametrize(
    "line,words",
    [
        ("not json", "is not valid JSON"),
        ('{"prompt": "hi"}', "neither a 'conversations' nor a 'messages' list"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "message 0 has no known 'role'"),
        ('{"conversations": [{"from": "human", "value": 3}]}', "message 0 has no known 'from'"),
    ],
)
def test_bad_lines_are_one_sentence(tmp_path, line, words):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "fine"}]}\n' + line + "\n")
    with pytest.raises(UserError) as exc:
        read_chat(str(path))
    message = str(exc.value)
    assert "line 2" in message and words in message and "\n" not in message and message.endswith(".")


def test_no_user_message_at_all_is_refused(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text('{"messages": [{"role": "system", "content": "x"}]}\n')
    with pytest.raises(UserError, match="holds no conversation with a non-empty user message"):
        read_chat(str(path))


def _workload(path, **kw):
    base = dict(source="chat", path=str(path), num_prompts=6, input_tokens=256, output_tokens=16, seed=0, output_lengths="fixed")
    return SimpleNamespace(**{**base, **kw})


def _model():
    from llem.config.spec import ModelSpec

    return ModelSpec(name="smollm2-135m", source="builtin", id="smollm2-135m")


def test_templated_once_seeded_and_capped(tmp_path):
    from llem.workload.chat_tokens import chat_requests, chat_tokenizer

    path = write_dataset(tmp_path / "chat.jsonl")
    reqs, record = chat_requests(_workload(path), _model())
    tok = chat_tokenizer(_model())
    items = {i.line: i for i in read_chat(str(path))}
    assert len(reqs) == 6 and len({r.line for r in reqs}) == 6  # without replacement
    for r in reqs:
        item = items[r.line]
        expected = tok.apply_chat_template(item.as_openai(), add_generation_prompt=True, tokenize=True)
        expected = expected if isinstance(expected, list) else expected["input_ids"]
        assert r.input_ids == list(expected)  # the model's own template, with the history
        reply = len(tok(item.reply, add_special_tokens=False)["input_ids"]) if item.reply else None
        assert r.reply_tokens == (min(reply, 16) if reply else 16)
    assert record["multi_turn_requests"] == sum(r.turns > 1 for r in reqs) > 0
    assert record["reply_tokens_capped"]["cap"] == 16 and record["reply_tokens_capped"]["max"] <= 16
    again, _ = chat_requests(_workload(path, output_tokens=17), _model())  # made afresh, same seed
    assert [r.input_ids for r in again] == [r.input_ids for r in reqs]
    other, _ = chat_requests(_workload(path, seed=1, output_tokens=17), _model())
    assert token_ids_sha256(other) != token_ids_sha256(again)


def test_conversations_longer_than_the_context_are_skipped_and_counted(tmp_path):
    from llem.workload.chat_tokens import chat_requests

    path = write_dataset(tmp_path / "chat.jsonl")
    reqs, record = chat_requests(_workload(path, input_tokens=45, num_prompts=3), _model())
    assert all(len(r.input_ids) <= 45 for r in reqs) and "skipped as longer than" in record["drawn"]
    with pytest.raises(UserError, match="no conversation's templated prompt fits"):
        chat_requests(_workload(path, input_tokens=5, num_prompts=3), _model())


@pytest.mark.parametrize(
    "bad,mention",
    [
        (["workload=chat"], "workload.path"),
        (["workload=jsonl", "workload.path=PATH", "workload.output_lengths=dataset"], "needs workload.source=chat"),
        (["workload=chat", "workload.path=PATH", "workload.output_lengths=dataset"], "needs workload.mode=server"),
        (
            ["workload=chat", "workload.path=PATH", "workload.mode=server", "workload.endpoint=chat"],
            "workload.endpoint=completions",
        ),
        (
            ["workload=chat", "workload.path=PATH", "workload.mode=server", "backend=llamacpp"],
            "backend=sglang or tensorrt or vllm",
        ),
        (["workload=chat", "workload.path=MISSING"], "cannot be read"),
    ],
)
def test_bad_settings_are_one_sentence(tmp_path, bad, mention):
    path = write_dataset(tmp_path / "chat.jsonl")
    bad = [b.replace("PATH", str(path)).replace("MISSING", str(tmp_path / "nope.jsonl")) for b in bad]
    with pytest.raises(UserError) as exc:
        prevalidate(BASE + bad)
    message = str(exc.value)
    assert mention in message and "\n" not in message, message


def test_offline_job_on_a_chat_file(tmp_path):
    """A real job (PyTorch, SmolLM2-135M-Instruct): the requests are the templated conversations, recorded."""
    path = write_dataset(tmp_path / "chat.jsonl")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llem",
            *BASE,
            "backend=pytorch",
            "workload=chat",
            f"workload.path={path}",
            "workload.num_prompts=3",
            "workload.input_tokens=128",
            "workload.output_tokens=2",
            "workload.batch_size=3",
            "run.repeats=1",
            "run.warmup=0",
            "energy.baseline_s=0",
            f"run.output_root={out}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [result] = [json.loads(p.read_text()) for p in out.glob("runs/*/result.json")]
    from llem.workload.chat_tokens import chat_requests

    reqs, _ = chat_requests(_workload(path, num_prompts=3, input_tokens=128, output_tokens=2), _model())
    assert result["requests"]["input_tokens"] == [len(r.input_ids) for r in reqs]
    assert result["requests"]["prompt_token_ids_sha256"] == token_ids_sha256(reqs)
    ds = result["requests"]["dataset"]
    assert ds["conversations_in_file"] == 12 and ds["output_lengths"] == "fixed" and str(path) == ds["file"]
    assert result["windows"][0]["output_tokens"] == 3 * 2


@pytest.mark.parametrize(
    "bad,mention",
    [
        (["workload.turns=2"], "workload.mode=server workload.endpoint=chat"),
        (["workload=server", "workload.turns=2"], "workload.mode=server workload.endpoint=chat"),
        (["workload.think_time_s=1"], "workload.turns=1 has none"),
        (["workload=server", "workload.endpoint=chat", "workload.turns=2", "workload.source=synthetic"], "text source"),
        (["workload=server", "workload.endpoint=chat", "workload.turns=2", "workload.request_rate=2"], "request_rate=null"),
        (["workload=server", "workload.endpoint=chat", "workload.turns=0"], "workload.turns"),
    ],
)
def test_bad_session_settings_are_one_sentence(bad, mention):
    with pytest.raises(UserError) as exc:
        prevalidate(BASE + bad)
    message = str(exc.value)
    assert mention in message and "\n" not in message, message

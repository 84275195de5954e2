"""Chat conversations (llem/workload/chat.py) as token ids: tokenised once, with the model's own chat
template (its Hugging Face tokenizer's apply_chat_template, add_generation_prompt=True), so every engine
receives the same ids and `requests.prompt_token_ids_sha256` identifies them.

Conversations are visited in the seeded order of llem/workload/chat.py `sample`; one whose templated
prompt is longer than workload.input_tokens (the context llem sizes the engine for) is skipped and
counted, the next one taken. Each request's reply length is its dataset reply's token count (the
tokenizer's, without special tokens), capped at workload.output_tokens; a conversation that ends on the
user gets workload.output_tokens. Which of these lengths the engine generates is workload.output_lengths
(fixed: workload.output_tokens for every request; dataset: the per-request lengths, server mode).
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from pathlib import Path

from llem.errors import UserError
from llem.models.source import model_source
from llem.workload.chat import chat_path, read_chat


@dataclass(frozen=True)
class ChatRequest:
    id: str
    input_ids: list[int]
    reply_tokens: int  # the dataset reply's token count, capped at workload.output_tokens
    turns: int  # user messages in the prompt (its history included)
    line: int  # the conversation's line in the file


def chat_tokenizer(model):
    """The Hugging Face tokenizer the engines load for `model` (a ModelSpec), with its chat template."""
    from transformers import AutoTokenizer

    src = model_source(model)
    revision = None if Path(src.model).is_dir() else model.revision
    tok = AutoTokenizer.from_pretrained(src.tokenizer or src.model, revision=revision, trust_remote_code=model.trust_remote_code)
    if not getattr(tok, "chat_template", None):
        raise UserError(
            f"workload.source=chat needs a model whose tokenizer has a chat template; model={model.name}'s "
            f"has none: use an instruction-tuned model (e.g. model=smollm2-135m)."
        )
    return tok


def _ids(encoded) -> list[int]:
    """apply_chat_template's answer: a list of ids, or (transformers 5) a BatchEncoding holding them."""
    if isinstance(encoded, list):
        return list(encoded)
    return list(encoded["input_ids"])


_MADE: dict[str, tuple[list[ChatRequest], dict]] = {}


def chat_requests(workload, model) -> tuple[list[ChatRequest], dict]:
    """workload.num_prompts requests from the file, and the record of how they were made (made once per
    process for the same file, settings and model: the harness asks for the requests and for the record)."""
    path = chat_path(workload)
    key = repr(
        (
            path,
            Path(path).stat().st_mtime_ns,
            workload.seed,
            workload.num_prompts,
            workload.input_tokens,
            workload.output_tokens,
            model.model_dump_json() if hasattr(model, "model_dump_json") else repr(model),
        )
    )
    if key not in _MADE:
        _MADE.clear()
        _MADE[key] = _make(workload, model)
    return _MADE[key]


def _make(workload, model) -> tuple[list[ChatRequest], dict]:
    items = read_chat(chat_path(workload))
    tok = chat_tokenizer(model)
    rng = random.Random(workload.seed)
    order = list(range(len(items)))
    rng.shuffle(order)
    out: list[ChatRequest] = []
    skipped, draws, k = 0, 0, 0
    while len(out) < workload.num_prompts:
        if k == len(order):  # file exhausted: start another seeded round (stated as repeats)
            if not out:
                break
            rng.shuffle(order)
            k = 0
        item = items[order[k]]
        k += 1
        draws += 1
        ids = _ids(tok.apply_chat_template(item.as_openai(), add_generation_prompt=True, tokenize=True))
        if len(ids) > workload.input_tokens:
            skipped += 1
            continue
        reply = len(tok(item.reply, add_special_tokens=False)["input_ids"]) if item.reply is not None else None
        length = min(reply, workload.output_tokens) if reply else workload.output_tokens
        out.append(ChatRequest(f"chat-{len(out):05d}", ids, length, item.turns, item.line))
    if not out:
        raise UserError(
            f"workload.path={workload.path}: no conversation's templated prompt fits in workload.input_tokens="
            f"{workload.input_tokens} tokens: give a larger workload.input_tokens."
        )
    lens = [len(r.input_ids) for r in out]
    replies = [r.reply_tokens for r in out]
    record = {
        "file": chat_path(workload),
        "conversations_in_file": len(items),
        "drawn": f"seeded shuffle (seed {workload.seed}), {draws} visited, {skipped} skipped as longer than "
        f"workload.input_tokens={workload.input_tokens}" + (", the file's conversations repeat" if draws > len(items) else ""),
        "chat_template": "the model's tokenizer (apply_chat_template, add_generation_prompt=True)",
        "multi_turn_requests": sum(1 for r in out if r.turns > 1),
        "input_tokens": {"min": min(lens), "median": statistics.median(lens), "max": max(lens)},
        "reply_tokens_capped": {
            "min": min(replies),
            "median": statistics.median(replies),
            "max": max(replies),
            "cap": workload.output_tokens,
        },
    }
    return out, record

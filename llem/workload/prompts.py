"""Prompt sources: the shipped prompt set, a user's JSONL file, or synthetic fixed-length ids."""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from llem.errors import UserError
from llem.workload.chat import chat_path, read_chat
from llem.workload.jsonl import jsonl_objects
from llem.workload.chat_tokens import chat_requests
from llem.workload.prefix import prefix_prompts
from llem.workload.request import Request

_DATA = Path(__file__).parent / "data" / "prompts.jsonl"


@lru_cache(maxsize=None)
def read_jsonl(path: str) -> tuple[str, ...]:
    try:
        with open(path, encoding="utf-8") as fh:
            return _parse_jsonl(path, fh)
    except UnicodeDecodeError as exc:
        raise UserError(
            f'workload.path={path} is not UTF-8 text (byte {exc.start} cannot be decoded): give a JSONL file with one {{"prompt": "..."}} object per line.'
        ) from None


def _parse_jsonl(path: str, fh) -> tuple[str, ...]:
    prompts = []
    for lineno, obj in jsonl_objects(path, fh, 'each line must be an object like {"prompt": "..."}'):
        if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
            raise UserError(
                f'workload.path={path} line {lineno} has no non-empty string field \'prompt\': each line must be an object like {{"prompt": "..."}}.'
            )
        prompts.append(obj["prompt"])
    if not prompts:
        raise UserError(f'workload.path={path} holds no prompts: give at least one line like {{"prompt": "..."}}.')
    return tuple(prompts)


def builtin_prompts() -> list[str]:
    return list(read_jsonl(str(_DATA)))


def source_texts(workload) -> list[str]:
    """The prompt texts of a text source (builtin or jsonl), in file order."""
    if workload.source == "builtin":
        return builtin_prompts()
    return list(read_jsonl(str(Path(workload.path).expanduser())))


def validate_source(workload) -> None:
    """Cheap check of a user file before any model loads."""
    if workload.source == "jsonl":
        read_jsonl(str(Path(workload.path).expanduser()))
    if workload.source == "chat":
        read_chat(chat_path(workload))


def build_requests(
    workload,
    encode: Callable[[str], list[int]],
    vocab_size: int,
    special_ids: Sequence[int] = (),
    model=None,
) -> list[Request]:
    """Turn the workload settings into token-level requests, identical for every engine (source=chat: the
    conversations templated with `model`'s tokenizer, llem/workload/chat_tokens.py)."""
    if workload.source == "chat":
        return [Request(id=r.id, prompt=None, input_ids=r.input_ids) for r in chat_requests(workload, model)[0]]
    if workload.source == "synthetic":
        rng = random.Random(workload.seed)
        banned = set(special_ids)
        allowed = [i for i in range(min(vocab_size, 1 << 20)) if i not in banned]
        if workload.prefix_share > 0:  # llem/workload/prefix.py; share 0 keeps the draws below unchanged
            return [
                Request(id=f"synthetic-{i:05d}", prompt=None, input_ids=ids)
                for i, ids in enumerate(_prefix_ids(workload, allowed))
            ]
        return [
            Request(id=f"synthetic-{i:05d}", prompt=None, input_ids=[rng.choice(allowed) for _ in range(workload.input_tokens)])
            for i in range(workload.num_prompts)
        ]
    texts = source_texts(workload)
    requests = []
    for i in range(workload.num_prompts):
        text = texts[i % len(texts)]
        ids = encode(text)[: workload.input_tokens]
        requests.append(Request(id=f"{workload.source}-{i:05d}", prompt=text, input_ids=ids))
    return requests


def _prefix_ids(workload, allowed: list[int]) -> list[list[int]]:
    try:
        return prefix_prompts(
            workload.num_prompts, workload.input_tokens, workload.prefix_share, workload.prefix_group_size, allowed, workload.seed
        )
    except ValueError as exc:  # more groups than the vocabulary has first ids
        raise UserError(
            f"workload.prefix_group_size={workload.prefix_group_size} with workload.num_prompts="
            f"{workload.num_prompts} needs more distinct prefixes than this vocabulary allows ({exc}): "
            f"give a larger workload.prefix_group_size."
        ) from None


def dataset_record(spec) -> dict:
    """{"dataset": how a chat file became the requests} for result.json's `requests`; {} for other sources."""
    if spec.workload.source != "chat":
        return {}
    record = dict(chat_requests(spec.workload, spec.model)[1])
    record["output_lengths"] = spec.workload.output_lengths
    return {"dataset": record}

"""The requests a server-mode job sends: text prompts (the shipped set or a JSONL file) as completions
or as one chat message, or synthetic token-id prompts of exact length (completions only).

Synthetic ids are drawn as in offline mode (llem/workload/prompts.py `build_requests`, seeded by
workload.seed) from the vocabulary of the tokenizer the server loads, special ids left out, so
that the same model gets the same ids offline and served. Only the tokenizer files are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llem.models.source import model_source
from llem.registry import backend_info, load_object
from llem.serving.plan import ServerPlan
from llem.workload.loadgen import RequestInput
from llem.workload.chat_tokens import chat_requests
from llem.workload.prompts import build_requests, source_texts


def build_inputs(spec, plan=None) -> list[RequestInput]:
    """workload.num_prompts requests; `plan` (None when attached) names the field that caps a chat answer. With
    structured output each request keeps its answer's text, validated after the run (llem/workload/structured.py)."""
    inputs = _inputs(spec, plan)
    if spec.workload.response_format == "json_schema":
        for i in inputs:
            i.keep_text = True
    return inputs


def _inputs(spec, plan) -> list[RequestInput]:
    w = spec.workload
    if w.source == "synthetic":
        return [RequestInput(r.id, r.input_ids, w.output_tokens) for r in synthetic_requests(spec)]
    if w.source == "chat":  # templated token ids (llem/workload/chat_tokens.py); dataset lengths: each its own cap
        fixed = (plan or ServerPlan).fixed_length
        own = ("max_tokens", "min_tokens") if w.output_lengths == "dataset" and "min_tokens" in fixed else ("max_tokens",)
        return [
            RequestInput(
                r.id, r.input_ids, r.reply_tokens if w.output_lengths == "dataset" else w.output_tokens, length_fields=own
            )
            for r in chat_requests(w, spec.model)[0]
        ]
    prompts = text_prompts(w)
    if w.endpoint == "chat":
        fields = (plan or ServerPlan).chat_length_fields
        return [RequestInput(f"{w.source}-chat-{i:05d}", text, w.output_tokens, "chat", fields) for i, text in enumerate(prompts)]
    counts = client_prompt_counts(spec, prompts) if plan is not None else [None] * len(prompts)
    return [
        RequestInput(f"{w.source}-{i:05d}", text, w.output_tokens, prompt_tokens=n)
        for i, (text, n) in enumerate(zip(prompts, counts))
    ]


def client_prompt_counts(spec, texts: list[str]) -> list:
    """The client's own token count of each completions prompt where the server sends no usage (the registry's
    prompt_counter; llama.cpp: its GGUF's vocabulary); None where the server's usage is the count. Chat prompts
    are not counted: the server's chat template adds tokens the client does not see."""
    target = backend_info(spec.backend_name).prompt_counter
    return [None] * len(texts) if target is None else load_object(target)(spec, texts)


def text_prompts(w) -> list[str]:
    """num_prompts texts, cycling through the source; sent whole (the server tokenizes them)."""
    texts = source_texts(w)
    return [texts[i % len(texts)] for i in range(w.num_prompts)]


def synthetic_requests(spec):
    vocab, special = token_space(spec)
    return build_requests(spec.workload, None, vocab, special)  # synthetic prompts encode no text


def token_space(spec) -> tuple[int, list[int]]:
    """(vocabulary size, special ids) of the tokenizer the server loads, as the offline engines count them:
    min(tokenizer length, the model config's vocab_size), and the tokenizer's special ids."""
    from transformers import AutoConfig, AutoTokenizer

    m = spec.model
    src = model_source(m)
    local = Path(src.model).is_dir()
    revision = None if local else m.revision
    tok = AutoTokenizer.from_pretrained(src.tokenizer or src.model, revision=revision, trust_remote_code=m.trust_remote_code)
    size = len(tok)
    config_vocab = _config_vocab(AutoConfig.from_pretrained(src.model, revision=revision, trust_remote_code=m.trust_remote_code))
    if config_vocab:
        size = min(size, config_vocab)
    return size, list(tok.all_special_ids)


def _config_vocab(config) -> Optional[int]:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(text, "vocab_size", None)


def _counted(spec) -> bool:
    w = spec.workload
    return w.endpoint == "completions" and w.server_url is None and backend_info(spec.backend_name).prompt_counter is not None


def describe_prompts(spec, plan=None) -> str:
    """What the prompts are, for the result's effective settings."""
    w = spec.workload
    if w.source == "chat":
        lengths = (
            "each request's dataset reply length (tokens, capped at workload.output_tokens)"
            if w.output_lengths == "dataset"
            else f"workload.output_tokens={w.output_tokens} for every request"
        )
        return (
            f"conversations from workload.path={w.path}, templated once with the model's chat template into token ids "
            f"(llem/workload/chat_tokens.py), sent to /v1/completions; output length: {lengths}"
        )
    if w.source == "synthetic":
        return (
            f"token-id prompts of exactly workload.input_tokens={w.input_tokens} ids (seeded by workload.seed={w.seed}; "
            f"the tokenizer's vocabulary without special ids), checked against the server's usage.prompt_tokens"
        )
    text = (
        "text prompts sent whole (workload.input_tokens only sizes the server's context; prompt tokens from the "
        "server's usage where it sends one, else the client's count"
        + (
            f": backend={spec.backend_name}'s own prompt counter, {backend_info(spec.backend_name).prompt_counter})"
            if _counted(spec)
            else ")"
        )
    )
    if w.endpoint == "chat":
        fields = (plan or ServerPlan).chat_length_fields
        return f"{text}; each one user message, the server's chat template applied; output capped by {', '.join(fields)}"
    return text

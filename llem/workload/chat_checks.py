"""Validation of workload.source=chat and workload.output_lengths, run by llem.config.spec before any model loads.

Plain rules (no engine import): the spec may import this module."""

from __future__ import annotations

from llem.errors import UserError
from llem.registry import engine, engines


def check_chat_workload(w) -> None:
    if w.output_lengths == "dataset" and w.source != "chat":
        raise UserError(
            f"workload.output_lengths=dataset takes each request's length from a chat dataset's replies, so it "
            f"needs workload.source=chat, not workload.source={w.source}: use workload=chat, or "
            f"workload.output_lengths=fixed."
        )
    if w.output_lengths == "dataset" and w.mode != "server":
        raise UserError(
            "workload.output_lengths=dataset needs workload.mode=server (offline engines generate "
            "workload.output_tokens for every request): use workload.mode=server, or workload.output_lengths=fixed."
        )
    if w.source == "chat" and w.mode == "server" and w.endpoint != "completions":
        raise UserError(
            "workload.source=chat sends the conversations as token ids templated by llem to /v1/completions, "
            "not to /v1/chat/completions: use workload.endpoint=completions with workload.source=chat."
        )


def check_sessions(w) -> None:
    """workload.turns > 1: multi-turn sessions (llem/harness/sessions.py)."""
    if w.turns == 1:
        if w.think_time_s:
            raise UserError(
                f"workload.think_time_s={w.think_time_s:g} is the pause between the turns of a conversation, "
                f"and workload.turns=1 has none: set workload.turns > 1, or leave think_time_s at 0."
            )
        return
    if w.mode != "server" or w.endpoint != "chat":
        raise UserError(
            f"workload.turns={w.turns} runs multi-turn conversations against a server's chat endpoint: use "
            f"workload.mode=server workload.endpoint=chat (offline engines get single prompts)."
        )
    if w.source not in ("builtin", "jsonl"):
        raise UserError(
            f"workload.turns={w.turns} takes its user messages from a text source (workload.source=builtin or "
            f"jsonl), not workload.source={w.source}."
        )
    if w.request_rate is not None:
        raise UserError(
            f"workload.turns={w.turns} sends each turn of every conversation as one closed-loop load at "
            f"workload.concurrency: leave workload.request_rate=null."
        )


def check_chat_job(spec) -> None:
    w = spec.workload
    if w.source == "chat" and w.mode == "server" and "ids" not in engine(spec.backend_name).prompts:
        takes = [n for n, e in engines().items() if "ids" in e.prompts]
        raise UserError(
            f"workload.source=chat in server mode sends token ids, which the backend={spec.backend_name} server "
            f"does not take: use backend={' or '.join(takes)}, or workload.mode=offline."
        )

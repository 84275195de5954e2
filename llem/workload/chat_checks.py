"""Validation of workload.source=chat and workload.output_lengths, run by llem.spec before any model loads.

Plain rules (no engine import): the spec may import this module."""

from __future__ import annotations

from llem.errors import UserError
from llem.workload.server_checks import TOKEN_ID_SERVERS


def check_chat_workload(w) -> None:
    if w.output_lengths == "dataset" and w.source != "chat":
        raise UserError(f"workload.output_lengths=dataset takes each request's length from a chat dataset's replies, so it "
                        f"needs workload.source=chat, not workload.source={w.source}: use workload=chat, or "
                        f"workload.output_lengths=fixed.")
    if w.output_lengths == "dataset" and w.mode != "server":
        raise UserError("workload.output_lengths=dataset needs workload.mode=server (offline engines generate "
                        "workload.output_tokens for every request): use workload.mode=server, or workload.output_lengths=fixed.")
    if w.source == "chat" and w.mode == "server" and w.endpoint != "completions":
        raise UserError("workload.source=chat sends the conversations as token ids templated by llem to /v1/completions, "
                        "not to /v1/chat/completions: use workload.endpoint=completions with workload.source=chat.")


def check_chat_job(spec) -> None:
    w = spec.workload
    if w.source == "chat" and w.mode == "server" and spec.backend_name not in TOKEN_ID_SERVERS:
        raise UserError(f"workload.source=chat in server mode sends token ids, which the backend={spec.backend_name} server "
                        f"does not take: use backend=vllm or sglang, or workload.mode=offline.")

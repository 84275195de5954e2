"""Chat datasets by path (workload=chat): ShareGPT-format and OpenAI-messages JSONL files.

One conversation per line, in either shape:

- ShareGPT: {"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}, ...]}
  (from: human/user, gpt/assistant/chatgpt/bard/bing/model, system);
- OpenAI messages: {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}, ...]}.

Each conversation gives one request: its messages up to its last user message (the history of a
multi-turn conversation included, as a deployed chat sends it), and as the reply the assistant
message that follows (None where the conversation ends on the user). Which conversations a job
sends, and as which token ids: llem/workload/chat_tokens.py. Files are read and checked before any
model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from llem.errors import UserError
from llem.workload.jsonl import jsonl_objects

ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
}
SHAPES = (
    '{"conversations": [{"from": "human", "value": "..."}, ...]} (ShareGPT) or '
    '{"messages": [{"role": "user", "content": "..."}, ...]} (OpenAI messages)'
)


@dataclass(frozen=True)
class ChatItem:
    line: int  # 1-based line of the file
    messages: tuple[tuple[str, str], ...]  # (role, content) up to and including the last user message
    reply: Optional[str]  # the assistant message after it, None where the conversation ends there
    turns: int  # user messages in `messages`

    def as_openai(self) -> list[dict]:
        return [{"role": r, "content": c} for r, c in self.messages]


def _bad(path: str, lineno: int, what: str) -> UserError:
    return UserError(f"workload.path={path} line {lineno} {what}: each line must be a conversation like {SHAPES}.")


def _turns(path: str, lineno: int, obj) -> list[tuple[str, str]]:
    if not isinstance(obj, dict):
        raise _bad(path, lineno, "is not a JSON object")
    if isinstance(obj.get("conversations"), list):
        raw, role_key, text_key = obj["conversations"], "from", "value"
    elif isinstance(obj.get("messages"), list):
        raw, role_key, text_key = obj["messages"], "role", "content"
    else:
        raise _bad(path, lineno, "has neither a 'conversations' nor a 'messages' list")
    out = []
    for k, msg in enumerate(raw):
        role = msg.get(role_key) if isinstance(msg, dict) else None
        text = msg.get(text_key) if isinstance(msg, dict) else None
        if not isinstance(role, str) or role.lower() not in ROLES or not isinstance(text, str):
            raise _bad(
                path,
                lineno,
                f"message {k} has no known '{role_key}' ({', '.join(sorted(set(ROLES)))}) with a string '{text_key}'",
            )
        out.append((ROLES[role.lower()], text))
    return out


def _item(lineno: int, turns: list[tuple[str, str]]) -> Optional[ChatItem]:
    users = [i for i, (r, c) in enumerate(turns) if r == "user" and c.strip()]
    if not users:
        return None
    last = users[-1]
    reply = turns[last + 1][1] if last + 1 < len(turns) and turns[last + 1][0] == "assistant" else None
    messages = tuple(turns[: last + 1])
    return ChatItem(lineno, messages, reply, sum(1 for r, _ in messages if r == "user"))


@lru_cache(maxsize=None)
def read_chat(path: str) -> tuple[ChatItem, ...]:
    """Every conversation of the file with a non-empty user message, checked line by line."""
    items = []
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, obj in jsonl_objects(path, fh, f"each line must be a conversation like {SHAPES}"):
                item = _item(lineno, _turns(path, lineno, obj))
                if item is not None:
                    items.append(item)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"workload.path={path} is not UTF-8 text (byte {exc.start} cannot be decoded): give a JSONL "
            f"file with one conversation per line."
        ) from None
    except OSError as exc:
        raise UserError(
            f"workload.path={path} cannot be read ({exc.strerror}): give the path of a JSONL file with one conversation per line."
        ) from None
    if not items:
        raise UserError(f"workload.path={path} holds no conversation with a non-empty user message: give lines like {SHAPES}.")
    return tuple(items)


def chat_path(workload) -> str:
    return str(Path(workload.path).expanduser())

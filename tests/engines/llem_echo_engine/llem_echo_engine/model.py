"""The "model": bytes in, bytes out, by a fixed rule that costs `rounds` multiply-adds per token."""

from __future__ import annotations

VOCAB = 256


def encode(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def next_token(context: list[int], step: int, rounds: int) -> int:
    acc = step
    tail = context[-8:] or [0]
    for i in range(rounds):
        acc = (acc * 31 + tail[i % len(tail)]) % 65521
    return 32 + acc % 95  # printable ASCII: one character per token


def generate(prompt: list[int], n: int, rounds: int) -> list[int]:
    context, out = list(prompt), []
    for step in range(n):
        token = next_token(context, step, rounds)
        context.append(token)
        out.append(token)
    return out

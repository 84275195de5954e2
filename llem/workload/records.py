"""One streamed request as the load generator saw it, and the per-request latencies llem derives from it.

Times are seconds from the run's start on CLOCK_MONOTONIC (time.monotonic: one system-wide clock on
Linux, so records of client shards in different processes line up). A record keeps every
token-bearing chunk: its arrival time (`chunk_s`) and how many tokens it carried (`chunk_tokens`,
counted by the rule in llem/workload/loadgen.py; exact where the server lists token ids per chunk,
`token_ids_listed`). Definitions (docs/server.md, "Latency definitions"):

- TTFT: first token-bearing chunk - send;
- ICL (inter-chunk latency): every gap between consecutive token-bearing chunks, as the client saw it
  (vLLM's benchmark_serving calls this list "ITL"; NVIDIA AIPerf calls it ICL);
- ITL (inter-token latency): per token after the first chunk, its chunk's gap spread evenly over the
  chunk's tokens (a chunk of n tokens after a gap g gives n gaps of g/n); one token per chunk: ITL = ICL.
  Its per-request mean is (last chunk - first chunk) / (tokens - tokens of the first chunk), AIPerf's ITL;
- TPOT: (last chunk - first chunk) / (output tokens - 1), vLLM's TPOT (its latency - ttft), with the
  server's usage.completion_tokens where sent, else the client's count.

Records cross process boundaries as plain dicts (to_dict / from_dict).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Optional


@dataclass
class RequestOutput:
    id: str
    scheduled_s: float  # when the arrival process released it (seconds from the run's start)
    sent_s: Optional[float] = None  # when it went out (later than scheduled if the concurrency cap held it)
    chunk_s: list[float] = field(default_factory=list)  # arrival of each token-bearing chunk
    chunk_tokens: list[int] = field(default_factory=list)  # tokens each of those chunks carried
    done_s: Optional[float] = None
    usage_prompt_tokens: Optional[int] = None
    usage_completion_tokens: Optional[int] = None
    finish_reason: Optional[str] = None
    error: Optional[str] = None
    expected_prompt_tokens: Optional[int] = None  # token-id prompts: their length, to check against usage
    client_prompt_tokens: Optional[int] = None  # the client's own count of the prompt's tokens (None: not counted)
    token_ids_listed: bool = False  # the server listed token ids per chunk: chunk_tokens is exact
    shard: int = 0  # the client process that sent it
    usage: Optional[dict] = None  # the server's last `usage` object as sent (its prompt_tokens_details: cached tokens)
    text: Optional[str] = None  # the answer's text, where the request asked to keep it (multi-turn sessions)
    max_tokens: Optional[int] = None  # the request's own output cap (None: workload.output_tokens)
    timings: Optional[dict] = None  # llama-server's `timings` object of the last chunk that had one (cache_n)
    resent: int = 0  # times it went again on a fresh connection: the pooled one had been closed by the server (loadgen.py)

    @property
    def ok(self) -> bool:
        return self.error is None and self.done_s is not None

    @property
    def token_s(self) -> list[float]:
        """Arrival time of every streamed token (a chunk's tokens share its time)."""
        return [t for t, n in zip(self.chunk_s, self.chunk_tokens) for _ in range(n)]

    @property
    def client_tokens(self) -> int:
        return sum(self.chunk_tokens)

    @property
    def output_tokens(self) -> int:
        """The server's count where it sent usage, else the client's."""
        return self.usage_completion_tokens if self.usage_completion_tokens is not None else self.client_tokens

    @property
    def input_tokens(self) -> Optional[int]:
        """The server's usage.prompt_tokens where sent, else the client's own count (None where neither exists)."""
        return self.usage_prompt_tokens if self.usage_prompt_tokens is not None else self.client_prompt_tokens

    @property
    def ttft_s(self) -> Optional[float]:
        return self.chunk_s[0] - self.sent_s if self.chunk_s and self.sent_s is not None else None

    @property
    def latency_s(self) -> Optional[float]:
        return self.done_s - self.sent_s if self.done_s is not None and self.sent_s is not None else None

    @property
    def icl_s(self) -> list[float]:
        """Every gap between consecutive token-bearing chunks."""
        return [b - a for a, b in zip(self.chunk_s, self.chunk_s[1:])]

    @property
    def itl_s(self) -> list[float]:
        """Per token after the first chunk: its chunk's gap divided by the chunk's tokens."""
        return [gap / n for gap, n in zip(self.icl_s, self.chunk_tokens[1:]) for _ in range(n)]

    @property
    def tpot_s(self) -> Optional[float]:
        """(last chunk - first chunk) / (output tokens - 1), as vLLM's benchmark_serving computes TPOT."""
        n = self.output_tokens  # one chunk only: no time between tokens was seen, so no TPOT (not 0)
        return (self.chunk_s[-1] - self.chunk_s[0]) / (n - 1) if len(self.chunk_s) > 1 and n > 1 else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RequestOutput":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

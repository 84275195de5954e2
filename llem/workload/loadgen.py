"""OpenAI-compatible load generator: streaming /v1/completions (text or token-id prompts) or
/v1/chat/completions (the prompt as one user message) under a fixed concurrency (closed loop) or a
fixed request rate (open loop: Poisson, constant or burst arrivals, seeded).

Per request it keeps the send time, the arrival time and token count of every token-bearing chunk
(llem/workload/records.py), the server's `usage` where sent, and any error. Times are
time.monotonic() (CLOCK_MONOTONIC), one clock for all client processes (llem/workload/shards.py). Closed loop is the open loop with every arrival at t=0: in
both, at most `concurrency` requests are in flight. The client is aiohttp (its HTTP parser is C;
the pure-Python httpx stack took 2-2.6x the CPU per streamed token: benchmarks/loadgen_capacity.py),
imported when a load runs; LoadRun.client_cpu_s is the event loop thread's CPU time, so a run can
tell when the client itself was near its limit.

Token rule (client count), per choice of a streamed chunk: a choice that lists `token_ids`
(vLLM, asked with return_token_ids) carries that many tokens. Otherwise it carries one token when
it has non-empty text (completions: `text`; chat: `delta.content`, or the delta's reasoning text)
or when it has no finish_reason yet -- except chat's opening delta, which only names the role
(`{"role": "assistant"}`, vLLM adds `"content": ""`) and carries no token. So: llama.cpp's closing
chunk (empty text or an empty delta, with finish_reason) carries none; vLLM's last token arrives
with finish_reason in one chunk and counts; usage-only chunks have no choices. llama.cpp's empty-text
chunks before the end are tokens (a byte of an unfinished UTF-8 character, decoded to nothing) and count;
the byte tokens of one multi-byte character arrive as one chunk there, counted once (flagged when the
count falls short: llem/serving/metrics.py length_flags). The server's usage.completion_tokens is kept
beside it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from llem.workload.records import RequestOutput

__all__ = ["ENDPOINTS", "LoadRun", "LoadSettings", "RequestInput", "RequestOutput", "arrival_offsets", "served_model"]


ENDPOINTS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}


@dataclass
class RequestInput:
    id: str
    prompt: Union[str, list[int], list[dict]]  # text, token ids (completions only), or chat messages (chat only)
    max_tokens: int
    endpoint: str = "completions"  # or "chat": the prompt goes as one user message
    length_fields: tuple[str, ...] = ("max_tokens",)  # body fields set to max_tokens (chat: the server's name for it)
    prompt_tokens: Optional[int] = None  # the client's own count of the prompt's tokens (token ids: their number)
    keep_text: bool = False  # keep the answer's text (RequestOutput.text: a multi-turn session's next history)

    @property
    def is_messages(self) -> bool:
        return isinstance(self.prompt, list) and bool(self.prompt) and isinstance(self.prompt[0], dict)

    def __post_init__(self):
        if self.prompt_tokens is None and isinstance(self.prompt, list) and not self.is_messages:
            self.prompt_tokens = len(self.prompt)

    @property
    def path(self) -> str:
        return ENDPOINTS[self.endpoint]

    def body(self, model: str) -> dict:
        """The request's own fields; sampling and fixed-length fields come from LoadSettings.extra_body."""
        if self.endpoint == "chat":
            messages = self.prompt if self.is_messages else [{"role": "user", "content": self.prompt}]
            body = {"model": model, "messages": messages}
        else:
            body = {"model": model, "prompt": self.prompt}
        body.update({name: self.max_tokens for name in self.length_fields})
        return {**body, "stream": True, "stream_options": {"include_usage": True}}


@dataclass
class LoadSettings:
    concurrency: int
    request_rate: Optional[float] = None  # None: closed loop
    arrival: str = "poisson"  # poisson | constant | burst
    burst_size: int = 4
    seed: int = 0
    extra_body: dict = field(default_factory=dict)  # sampling and fixed-length fields for every request
    request_timeout_s: float = 600.0  # longest wait for the next bytes of a response (not for the whole stream)
    processes: int = 1  # client processes (llem/workload/shards.py); 1: this process's event loop
    reuse_connections: bool = True  # False: a new connection per request (the server's plan says why)


@dataclass
class LoadRun:
    outputs: list[RequestOutput]
    duration_s: float  # first send to last completion
    steady_open_s: Optional[float]  # when `concurrency` requests were first in flight
    steady_close_s: Optional[float]  # first completion after the last request was sent
    max_in_flight: int
    client_cpu_s: Optional[float] = None  # CPU time of the client's event loop thread(s), first send to last completion
    shards: list[dict] = field(default_factory=list)  # per client process: index, requests, concurrency, cpu_s, duration_s
    coordinator_cpu_s: Optional[float] = None  # sharded: this process's CPU time relaying the shards' events


def arrival_offsets(n: int, rate: Optional[float], arrival: str, burst_size: int = 4, seed: int = 0) -> list[float]:
    """Seconds from the start at which each of n requests is released; all 0 for a closed loop."""
    if not rate:
        return [0.0] * n
    rng = random.Random(seed)
    if arrival == "constant":
        return [i / rate for i in range(n)]
    if arrival == "poisson":  # exponential gaps with mean 1/rate
        t, out = 0.0, []
        for _ in range(n):
            out.append(t)
            t += rng.expovariate(rate)
        return out
    if arrival == "burst":  # burst_size at once, bursts spaced so the mean rate is `rate`
        return [(i // burst_size) * burst_size / rate for i in range(n)]
    raise ValueError(f"unknown arrival process {arrival!r}")


def _choice_tokens(choice: dict) -> int:
    """Tokens one streamed choice carries (the module docstring's token rule)."""
    if isinstance(choice.get("token_ids"), list):  # vLLM with return_token_ids: exact, also for merged chunks
        return len(choice["token_ids"])
    delta = choice.get("delta")
    if delta is None:  # completions
        return 1 if choice.get("text") or choice.get("finish_reason") is None else 0
    if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
        return 1
    return 1 if choice.get("finish_reason") is None and "role" not in delta else 0


def chunk_count(obj: dict) -> tuple[int, bool]:
    """(tokens a streamed chunk carries, whether the server listed them as token ids)."""
    tokens, listed = 0, False
    for choice in obj.get("choices") or []:
        tokens += _choice_tokens(choice)
        listed = listed or isinstance(choice.get("token_ids"), list)
    return tokens, listed


def _chunk_tokens(obj: dict) -> int:
    return chunk_count(obj)[0]


def _take_chunk(out: RequestOutput, obj: dict, now: float) -> None:
    tokens, listed = chunk_count(obj)
    if out.text is not None:  # kept for a multi-turn session's history
        for choice in obj.get("choices") or []:
            out.text += (choice.get("delta") or {}).get("content") or choice.get("text") or ""
    if tokens:
        out.chunk_s.append(now)
        out.chunk_tokens.append(tokens)
        out.token_ids_listed = out.token_ids_listed or listed
    for choice in obj.get("choices") or []:
        out.finish_reason = choice.get("finish_reason") or out.finish_reason
    usage = obj.get("usage")
    if usage:
        out.usage_prompt_tokens = usage.get("prompt_tokens")
        out.usage_completion_tokens = usage.get("completion_tokens")
        out.usage = usage  # kept whole: the engine's reader finds its cached-token count in it
    if isinstance(obj.get("timings"), dict):
        out.timings = obj["timings"]


# A kept-alive connection the server closed while it sat in the pool fails on its next write
# ("Can not write request body", "Server disconnected" before any response). The server never read
# that request, so it goes again (aiohttp drops the broken connection), as HTTP clients do (the OpenAI
# SDK retries connection errors twice); each resend is counted on the request (out.resent) and in the
# result. A server known to close after every streamed response gets one connection per request
# instead (ServerPlan.reuse_connections).
RESENDS = 2


async def _post(session, url: str, body: dict, out: RequestOutput, timeout):
    import aiohttp

    for attempt in range(RESENDS + 1):
        try:
            return await session.post(url, json=body, timeout=timeout)
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
            if attempt == RESENDS:
                raise
            out.resent += 1


async def _send(session, url: str, body: dict, out: RequestOutput, t0: float, timeout_s: float) -> None:
    import aiohttp

    clock = time.monotonic
    out.sent_s = clock() - t0
    try:
        resp = await _post(session, url, body, out, aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=timeout_s))
        async with resp:
            if resp.status != 200:
                text = (await resp.read()).decode("utf-8", "replace")
                out.error = f"HTTP {resp.status}: {text[:300]}"
                return
            async for raw in resp.content:  # one line at a time
                if not raw.startswith(b"data:"):
                    continue
                data = raw[5:].strip()
                if data == b"[DONE]":
                    break
                now = clock() - t0
                obj = json.loads(data)
                if "error" in obj:
                    out.error = f"server error: {json.dumps(obj['error'])[:300]}"
                    return
                _take_chunk(out, obj, now)
        out.done_s = clock() - t0
    except asyncio.TimeoutError as exc:  # aiohttp's timeouts are asyncio.TimeoutError too
        if isinstance(exc, getattr(aiohttp, "ConnectionTimeoutError", ())):
            out.error = "timed out connecting to the server (10 s)"
        else:
            out.error = f"timed out: no data from the server for {timeout_s:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        out.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


Event = Callable[[str, float], None]  # ("sent" | "done", seconds from the run's start)


async def run_async(
    base_url: str,
    model: str,
    inputs: list[RequestInput],
    load: LoadSettings,
    on_steady_open: Callable[[], None],
    on_steady_close: Callable[[], None],
    offsets: Optional[list[float]] = None,
    start: Optional[float] = None,
    on_event: Optional[Event] = None,
    shard: int = 0,
    on_start: Callable[[], None] = lambda: None,
) -> LoadRun:
    """The load in this event loop. A shard (llem/workload/shards.py) passes its part of the global arrival
    `offsets`, the shared `start` (a time.monotonic() value) and `on_event`, which sees every send and completion."""
    import aiohttp

    base = base_url.rstrip("/")
    if offsets is None:
        offsets = arrival_offsets(len(inputs), load.request_rate, load.arrival, load.burst_size, load.seed)
    slots = asyncio.Semaphore(load.concurrency)
    state = {"in_flight": 0, "max": 0, "all_sent": False, "open": None, "close": None}
    event = on_event or (lambda _kind, _t: None)
    outputs: list[RequestOutput] = []
    # idle pooled connections are dropped after 4 s, before the servers drop them (uvicorn, which serves
    # vLLM, SGLang and llama-cpp-python, and llama-server's cpp-httplib keep an idle connection 5 s);
    # aiohttp's own default (15 s) would reuse connections the server has already closed
    connector = (
        aiohttp.TCPConnector(limit=load.concurrency + 4, keepalive_timeout=4.0)
        if load.reuse_connections
        else aiohttp.TCPConnector(limit=load.concurrency + 4, force_close=True)
    )
    # no total timeout on the session (each request has its own); trust_env=False: no proxy from the environment
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None), trust_env=False) as client:
        if start is not None and start > time.monotonic():
            await asyncio.sleep(start - time.monotonic())
        on_start()
        t0 = time.monotonic() if start is None else start
        cpu0 = time.thread_time()

        async def one(inp: RequestInput, out: RequestOutput) -> None:
            try:
                await _send(client, base + inp.path, {**inp.body(model), **load.extra_body}, out, t0, load.request_timeout_s)
            finally:
                state["in_flight"] -= 1
                slots.release()
                event("done", time.monotonic() - t0)
                if state["all_sent"] and state["open"] is not None and state["close"] is None:
                    state["close"] = time.monotonic() - t0
                    on_steady_close()

        tasks = []
        for i, (inp, offset) in enumerate(zip(inputs, offsets)):
            delay = offset - (time.monotonic() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            out = RequestOutput(
                id=inp.id,
                scheduled_s=offset,
                client_prompt_tokens=inp.prompt_tokens,
                shard=shard,
                max_tokens=inp.max_tokens,
                text="" if inp.keep_text else None,
                expected_prompt_tokens=len(inp.prompt) if isinstance(inp.prompt, list) and not inp.is_messages else None,
            )
            outputs.append(out)
            await slots.acquire()
            state["in_flight"] += 1
            state["max"] = max(state["max"], state["in_flight"])
            event("sent", time.monotonic() - t0)
            if state["open"] is None and state["in_flight"] >= load.concurrency:
                state["open"] = time.monotonic() - t0
                on_steady_open()
            tasks.append(asyncio.create_task(one(inp, out)))
            state["all_sent"] = i == len(inputs) - 1
            await asyncio.sleep(0)  # let it send before the next one is released
        await asyncio.gather(*tasks)
        duration, cpu = time.monotonic() - t0, time.thread_time() - cpu0
    return LoadRun(outputs, duration, state["open"], state["close"], state["max"], cpu)


def served_model(base_url: str, timeout_s: float = 10.0) -> str:
    """The first model id the server lists under /v1/models."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback or the given URL, no proxy
    with opener.open(base_url.rstrip("/") + "/v1/models", timeout=timeout_s) as resp:
        data = json.loads(resp.read()).get("data") or []
    if not data:
        raise RuntimeError(f"{base_url}/v1/models lists no model")
    return data[0]["id"]

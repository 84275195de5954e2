"""The load generator over several client processes, for loads one core cannot take in.

One asyncio client takes in ~27k separately streamed tokens/s per core of this project's CPU box
(benchmarks/loadgen_capacity.py, docs/benchmarks.md); past ~70% of a core its own queueing lands in
the TTFT and gaps it records. So server mode splits its client over N processes ("shards"):

- the arrival process is drawn once, for all requests (closed loop: all at 0), and request j goes to
  shard (j mod concurrency) mod N with its own scheduled time, so shard i runs c_i of the
  `concurrency` slots (c_i = concurrency // N, plus one for the first concurrency % N shards) and about
  c_i / concurrency of the requests. The in-flight cap is per shard (their caps sum to `concurrency`):
  under a request rate a request can wait for a slot in its shard while another shard has one free;
- every shard starts at the same CLOCK_MONOTONIC instant (time.monotonic() is system-wide on Linux)
  and times its records from it, so merged records are on one clock;
- each shard reports every send and completion to this process as it happens; the steady-state edges
  are taken here over the merged in-flight count (opens when `concurrency` requests are in flight,
  closes at the first completion after the last send), and the callbacks (the meter's edges) run here;
- records come back as plain dicts and are merged in request order: percentiles over the merged
  records are those over the union of the shards' records; the client's CPU is each shard's event
  loop thread time (LoadRun.shards) and their sum (LoadRun.client_cpu_s).

`client_processes` is the rule that picks N from the configured load (docs/server.md).
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from typing import Callable, Optional

from llem.workload.loadgen import LoadRun, LoadSettings, RequestInput, RequestOutput, arrival_offsets, run_async

STREAM_TOKENS_PER_S = 200  # an upper expectation of one stream's decode rate: 5 ms per token (fast GPUs, small models)
SHARD_TOKENS_PER_S = 20_000  # what one client process takes in at ~70% of one core (docs/benchmarks.md)
# between the whole-run window's open (on_start, once every shard is ready) and the shards' common start: time
# for the start message to reach every waiting shard; idle time inside the window, so short
START_DELAY_S = 0.05


def expected_token_rate(concurrency: int, request_rate: Optional[float], output_tokens: int) -> float:
    """Streamed tokens/s the configured load can ask the client to take in, at most."""
    rate = concurrency * STREAM_TOKENS_PER_S
    return min(rate, request_rate * output_tokens) if request_rate else rate


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def client_processes(workload, cores: Optional[int] = None) -> int:
    """workload.client_processes where set; else ceil(expected token rate / SHARD_TOKENS_PER_S), at most
    `concurrency` and half the usable cores (a server on this host needs its own), at least 1."""
    if getattr(workload, "client_processes", None):
        return int(workload.client_processes)
    cores = usable_cores() if cores is None else cores
    rate = expected_token_rate(workload.concurrency, workload.request_rate, workload.output_tokens)
    return max(1, min(math.ceil(rate / SHARD_TOKENS_PER_S), workload.concurrency, cores // 2))


def shard_of(j: int, concurrency: int, processes: int) -> int:
    return (j % concurrency) % processes


def shard_concurrency(concurrency: int, processes: int) -> list[int]:
    return [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]


def _plain(load: LoadSettings, concurrency: int) -> dict:
    return {
        "concurrency": concurrency,
        "request_rate": load.request_rate,
        "arrival": load.arrival,
        "burst_size": load.burst_size,
        "seed": load.seed,
        "extra_body": load.extra_body,
        "request_timeout_s": load.request_timeout_s,
    }


def _input_dict(inp: RequestInput) -> dict:
    return {
        "id": inp.id,
        "prompt": inp.prompt,
        "max_tokens": inp.max_tokens,
        "endpoint": inp.endpoint,
        "length_fields": list(inp.length_fields),
        "prompt_tokens": inp.prompt_tokens,
    }


def shard_main() -> None:
    """A shard process (python -m llem.workload.shards): its job as one JSON line on stdin; it says it is ready,
    waits for the common start, runs, and writes its events and records as JSON lines on stdout."""
    import asyncio
    import json
    import sys

    def say(*msg) -> None:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    try:
        import aiohttp  # noqa: F401  (imported before the start, not inside the measured run)

        job = json.loads(sys.stdin.readline())
        settings = LoadSettings(**job["load"])
        reqs = [RequestInput(**{**d, "length_fields": tuple(d["length_fields"])}) for d in job["inputs"]]
        say("ready")
        start = json.loads(sys.stdin.readline())["start"]
        run = asyncio.run(
            run_async(
                job["base_url"],
                job["model"],
                reqs,
                settings,
                lambda: None,
                lambda: None,
                offsets=job["offsets"],
                start=start,
                on_event=say,
                shard=job["index"],
            )
        )
        say(
            "result",
            {
                "outputs": [o.to_dict() for o in run.outputs],
                "duration_s": run.duration_s,
                "cpu_s": run.client_cpu_s,
                "max_in_flight": run.max_in_flight,
            },
        )
    except BaseException:  # noqa: BLE001 -- reported to the coordinator as text
        say("error", traceback.format_exc())


class _Edges:
    """Steady-state edges over the merged in-flight count, from the shards' events as they arrive."""

    def __init__(self, total: int, concurrency: int, t0: float, on_open, on_close):
        self.total, self.concurrency, self.t0 = total, concurrency, t0
        self.on_open, self.on_close = on_open, on_close
        self.sent = self.in_flight = self.max = 0
        self.last_send: Optional[float] = None
        self.open: Optional[float] = None
        self.close: Optional[float] = None

    def event(self, kind: str, t: float) -> None:
        if kind == "sent":
            self.sent += 1
            self.in_flight += 1
            self.max = max(self.max, self.in_flight)
            if self.sent == self.total:
                self.last_send = t
            if self.open is None and self.in_flight >= self.concurrency:
                self.open = time.monotonic() - self.t0  # the meter's edge is now: the window's edge too
                self.on_open()
            return
        self.in_flight -= 1
        # a completion timed before the last send but relayed after it does not close the window
        if self.last_send is not None and t >= self.last_send and self.open is not None and self.close is None:
            self.close = time.monotonic() - self.t0
            self.on_close()


def run_sharded(
    base_url: str,
    model: str,
    inputs: list[RequestInput],
    load: LoadSettings,
    on_steady_open: Callable[[], None] = lambda: None,
    on_steady_close: Callable[[], None] = lambda: None,
    on_start: Callable[[], None] = lambda: None,
) -> LoadRun:
    import subprocess
    import sys
    from pathlib import Path

    n = max(1, min(load.processes, load.concurrency, len(inputs)))
    offsets = arrival_offsets(len(inputs), load.request_rate, load.arrival, load.burst_size, load.seed)
    parts: list[list[int]] = [[] for _ in range(n)]
    for j in range(len(inputs)):
        parts[shard_of(j, load.concurrency, n)].append(j)
    caps = shard_concurrency(load.concurrency, n)
    root = str(Path(__file__).resolve().parent.parent.parent)  # the llem this process runs, for the shards too
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    procs = []
    try:
        for i, part in enumerate(parts):
            # a fresh interpreter (not a fork): no threads, locks or meter state inherited from the measuring process
            p = subprocess.Popen(
                [sys.executable, "-m", "llem.workload.shards"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
            )
            procs.append(p)
            job = {
                "index": i,
                "base_url": base_url,
                "model": model,
                "inputs": [_input_dict(inputs[j]) for j in part],
                "offsets": [offsets[j] for j in part],
                "load": _plain(load, caps[i]),
            }
            p.stdin.write(json.dumps(job) + "\n")
            p.stdin.flush()
        return _coordinate(procs, parts, caps, len(inputs), load.concurrency, on_steady_open, on_steady_close, on_start)
    finally:
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def _relay(i: int, proc, messages) -> None:
    """One shard's stdout, line by line, onto the coordinator's queue; None at its end."""
    for line in proc.stdout:
        messages.put((i, json.loads(line)))
    messages.put((i, None))


def _coordinate(procs, parts, caps, total: int, concurrency: int, on_open, on_close, on_start) -> LoadRun:
    import queue
    import threading

    messages: "queue.Queue" = queue.Queue()
    for i, p in enumerate(procs):
        threading.Thread(target=_relay, args=(i, p, messages), daemon=True, name=f"llem-client-{i}").start()
    ready = 0
    while ready < len(procs):  # every shard imported its client and is ready
        i, msg = messages.get()
        if msg is None or msg[0] == "error":
            raise RuntimeError(f"load-generator process {i} failed before its start:\n{msg[1] if msg else 'it exited'}")
        ready += 1
    # the whole-run window opens before the start is fixed: an aligned meter's open waits up to one counter
    # period, which must not fall after the shards' first sends
    on_start()
    t0 = time.monotonic() + START_DELAY_S
    for p in procs:
        p.stdin.write(json.dumps({"start": t0}) + "\n")
        p.stdin.close()
    time.sleep(max(0.0, t0 - time.monotonic()))
    edges = _Edges(total, concurrency, t0, on_open, on_close)
    results: dict[int, dict] = {}
    cpu0 = time.thread_time()
    live = len(procs)
    while live:
        i, msg = messages.get()
        if msg is None:
            live -= 1
            if i not in results:
                raise RuntimeError(f"load-generator process {i} exited (code {procs[i].wait()}) without its records")
        elif msg[0] in ("sent", "done"):
            edges.event(msg[0], msg[1])
        elif msg[0] == "result":
            results[i] = msg[1]
        else:
            raise RuntimeError(f"load-generator process {i} failed:\n{msg[1]}")
    relay_cpu = time.thread_time() - cpu0  # the callbacks' thread; the relay threads' JSON parsing is not in it
    return _merge(results, parts, caps, edges, relay_cpu)


def _merge(results: dict[int, dict], parts, caps, edges: _Edges, relay_cpu: float) -> LoadRun:
    outputs: list[Optional[RequestOutput]] = [None] * sum(len(p) for p in parts)
    shards = []
    for i, part in enumerate(parts):
        res = results[i]
        for j, rec in zip(part, res["outputs"]):
            outputs[j] = RequestOutput.from_dict(rec)
        busy = res["cpu_s"] / res["duration_s"] if res["duration_s"] > 0 else None
        shards.append(
            {
                "index": i,
                "requests": len(part),
                "concurrency": caps[i],
                "cpu_s": res["cpu_s"],
                "duration_s": res["duration_s"],
                "busy_share": busy,
                "max_in_flight": res["max_in_flight"],
            }
        )
    done = [o for o in outputs if o is not None]
    first = min((o.sent_s for o in done if o.sent_s is not None), default=0.0)
    last = max((o.done_s if o.done_s is not None else (o.sent_s or 0.0) for o in done), default=first)
    cpu = sum(s["cpu_s"] for s in shards)
    return LoadRun(done, last - first if done else 0.0, edges.open, edges.close, edges.max, cpu, shards, relay_cpu)


if __name__ == "__main__":
    shard_main()

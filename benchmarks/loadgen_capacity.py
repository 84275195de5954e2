"""Load-generator capacity: how many streamed tokens per second llem's client (llem.workload.loadgen,
the one server mode uses) takes in on one core, and how much it adds to the TTFT and inter-token
gaps it reports, before it becomes the bottleneck of a server-mode measurement.

A real engine on a CPU box cannot stream fast enough to find that limit, so the server side here is
a minimal OpenAI-style SSE server (this file with --serve, its own process, on 127.0.0.1) that
sends vLLM-shaped /v1/completions chunks, one token each, with a known schedule: the first token
`--gap-ms` after the request arrives, then one every `--gap-ms` (or as fast as it can with 0).
It records how late it sent each token against that schedule (GET /stats), so what the client
reports can be split into the server's lateness and the client's own.

For each concurrency it runs llem's run_load (closed loop, concurrency x --rounds requests of
--tokens tokens) and prints: the offered token rate, the rate the client took in, the client's
CPU time per token and busy share of one core (CPU time of the thread running the event loop over
the run's duration), the reported TTFT and inter-token gap against the
true schedule, and the server's lateness (which must stay small for the row to be about the client).

    python benchmarks/loadgen_capacity.py [--concurrency 1,4,16,64,256] [--tokens 128] [--gap-ms 20]
    python benchmarks/loadgen_capacity.py --gap-ms 0        # ceiling: tokens as fast as possible
    python benchmarks/loadgen_capacity.py --client FILE     # another client module with the same run_load
    python benchmarks/loadgen_capacity.py --processes 4 --server-processes 4 --concurrency 512 --gap-ms 5
                                     # the client sharded over 4 processes (llem/workload/shards.py), the
                                     # paced server over 4 processes sharing its port (SO_REUSEPORT)

With --processes N the client CPU is the sum over its processes and "busy" is the busiest one's share of
its core (what saturates first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

_TOKEN = {
    "id": "cmpl-5f0c7a1e9b2d4c3a8e6f0b1d2c3a4e5f",
    "object": "text_completion",
    "created": 1764201600,
    "model": "m",
    "choices": [{"index": 0, "text": " the", "logprobs": None, "finish_reason": None, "stop_reason": None}],
    "usage": None,
}


def _sse(obj) -> bytes:
    data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)  # one HTTP/1.1 chunk per SSE event


def _chunks(n: int) -> tuple[bytes, bytes, bytes]:
    """A token chunk, the last token's chunk (finish_reason length), and the usage chunk, [DONE] and end."""
    last = {**_TOKEN, "choices": [{**_TOKEN["choices"][0], "finish_reason": "length"}]}
    usage = {**_TOKEN, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1}}
    return _sse(_TOKEN), _sse(last), _sse(usage) + _sse(b"[DONE]") + b"0\r\n\r\n"


def serve(gap_s: float, port: int = 0) -> None:
    late: list[float] = []

    def respond(writer, body: bytes, ctype: str = "application/json") -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s" % (ctype.encode(), len(body), body))

    async def handle(reader, writer) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                path = head[0].split(" ")[1]
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                if path == "/stats":
                    ms = sorted(1e3 * x for x in late)
                    stats = {
                        "tokens": len(ms),
                        "p50_ms": ms[len(ms) // 2] if ms else None,
                        "p99_ms": ms[int(0.99 * (len(ms) - 1))] if ms else None,
                        "max_ms": ms[-1] if ms else None,
                    }
                    late.clear()
                    respond(writer, json.dumps(stats).encode())
                    continue
                if path == "/v1/models":
                    respond(writer, b'{"object":"list","data":[{"id":"m","object":"model"}]}')
                    continue
                n = int(json.loads(body)["max_tokens"])
                token, last, tail = _chunks(n)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                start = loop.time()
                for i in range(1, n + 1):
                    if gap_s:
                        due = start + i * gap_s
                        if due > loop.time():
                            await asyncio.sleep(due - loop.time())
                        late.append(max(0.0, loop.time() - due))
                    writer.write(last if i == n else token)
                    await writer.drain()
                writer.write(tail)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        # reuse_port: several server processes share the port and the kernel spreads connections over them;
        # each also answers /stats on a port of its own (its lateness record)
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096, reuse_port=True)
        stats = await asyncio.start_server(handle, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], stats.sockets[0].getsockname()[1], flush=True)
        async with server, stats:
            await asyncio.gather(server.serve_forever(), stats.serve_forever())

    asyncio.run(main())


def _stats(urls: list[str]) -> dict:
    """The servers' lateness, over all their processes (the worst p99 and max)."""
    import urllib.request

    out = {"tokens": 0, "p99_ms": None, "max_ms": None}
    for url in urls:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url + "/stats", timeout=10) as resp:
            one = json.loads(resp.read())
        out["tokens"] += one["tokens"]
        for key in ("p99_ms", "max_ms"):
            if one[key] is not None:
                out[key] = max(out[key] or 0.0, one[key])
    return out


def _start_servers(n: int, gap_ms: float) -> tuple[list, str, list[str]]:
    procs, port, stats = [], 0, []
    for _ in range(n):
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--gap-ms", str(gap_ms), "--port", str(port)], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        shared, private = proc.stdout.readline().split()
        port = int(shared)
        stats.append(f"http://127.0.0.1:{private}")
    return procs, f"http://127.0.0.1:{port}", stats


def _pct(values: list[float], q: float):
    if not values:
        return None
    values = sorted(values)
    return values[int(q * (len(values) - 1))]


def _ms(x) -> str:
    return "-" if x is None else f"{1e3 * x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", default="1,4,16,64,256")
    ap.add_argument("--tokens", type=int, default=128, help="tokens per request")
    ap.add_argument("--rounds", type=int, default=4, help="requests per concurrency slot")
    ap.add_argument("--gap-ms", type=float, default=20.0, help="server's gap between tokens (0: as fast as it can)")
    ap.add_argument(
        "--client",
        type=Path,
        default=None,
        help="a .py file defining LoadSettings, RequestInput and run_load like llem.workload.loadgen "
        "(e.g. an earlier version from git show), to compare clients on the same server",
    )
    ap.add_argument("--processes", type=int, default=1, help="client processes (workload.client_processes)")
    ap.add_argument("--server-processes", type=int, default=1, help="paced-server processes sharing one port")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    gap = args.gap_ms / 1e3
    if args.serve:
        return serve(gap, args.port)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if args.client is None:
        from llem.workload.loadgen import LoadSettings, RequestInput
        from llem.workload.client import run_load

    else:
        import importlib.util

        mod_spec = importlib.util.spec_from_file_location("client_under_test", args.client)
        client = sys.modules["client_under_test"] = importlib.util.module_from_spec(mod_spec)  # dataclasses look it up
        mod_spec.loader.exec_module(client)
        LoadSettings, RequestInput, run_load = client.LoadSettings, client.RequestInput, client.run_load

    import os

    procs, url, stats_urls = _start_servers(args.server_processes, args.gap_ms)
    try:
        try:
            load = f"load average {os.getloadavg()[0]:.2f}"
        except OSError:
            load = "load average unknown"
        print(
            f"{'llem load generator' if args.client is None else args.client} vs a paced SSE server on loopback: {args.tokens} tokens/request, "
            f"server gap {args.gap_ms:g} ms ({'as fast as it can' if not gap else f'{1 / gap:.0f} tokens/s per stream'}), "
            f"{args.rounds} requests per slot; {args.processes} client and {args.server_processes} server processes; "
            f"{os.cpu_count()} cores, {load}"
        )
        print(
            "conc | offered tok/s | client tok/s | client CPU us/tok | client busy (max shard) | TTFT p50/p99 ms (true "
            f"{args.gap_ms:g}) | ITL p50/p99/max ms (true {args.gap_ms:g}) | server late p99/max ms | errors"
        )
        for conc in [int(c) for c in args.concurrency.split(",")]:
            _row(conc, args, gap, url, stats_urls, LoadSettings, RequestInput, run_load)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def _row(conc: int, args, gap: float, url: str, stats_urls: list[str], LoadSettings, RequestInput, run_load) -> None:
    inputs = [RequestInput(id=str(i), prompt="x", max_tokens=args.tokens) for i in range(conc * args.rounds)]
    _stats(stats_urls)  # clears the servers' lateness records
    settings = LoadSettings(concurrency=conc, request_timeout_s=300)
    if args.processes > 1:
        settings.processes = args.processes
    cpu0 = time.thread_time()  # one process: run_load's event loop runs in this thread
    run = run_load(url, "m", inputs, settings)
    shards = getattr(run, "shards", None) or []
    cpu = run.client_cpu_s if shards else time.thread_time() - cpu0
    busy = max(s["busy_share"] for s in shards) if shards else cpu / run.duration_s
    late = _stats(stats_urls)
    ok = [o for o in run.outputs if o.ok]
    tokens = sum(o.client_tokens for o in ok)
    itl = [g for o in ok for g in o.itl_s]
    ttft = [o.ttft_s for o in ok if o.ttft_s is not None]
    offered = f"{conc / gap:.0f}" if gap else "max"
    server_late = "-" if late["p99_ms"] is None else f"{late['p99_ms']:.2f}/{late['max_ms']:.2f}"
    print(
        f"{conc:4d} | {offered:>13} | {tokens / run.duration_s:12.0f} | {1e6 * cpu / max(tokens, 1):17.1f} | "
        f"{busy:23.2f} | {_ms(_pct(ttft, 0.5))}/{_ms(_pct(ttft, 0.99))} | "
        f"{_ms(_pct(itl, 0.5))}/{_ms(_pct(itl, 0.99))}/{_ms(max(itl) if itl else None)} | {server_late} | "
        f"{len(run.outputs) - len(ok)}",
        flush=True,
    )


if __name__ == "__main__":
    main()

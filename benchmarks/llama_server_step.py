"""Where llama-server's decode step goes beyond the engine's: one server setting or request field
changed at a time against the way llem starts llama-server and what its greedy requests carry.

On an H100 (2026-12-07, docs/measurements.md) llama-server decoded 8 slots at ~15 ms a step where
llama.cpp's own batch of 8, driven by llem's offline backend, stepped in ~8 ms. Candidates for the
difference, each a variant here: the log llem asks for (`--log-verbosity 4`, which llem reads the
weights' placement from), the prompt cache llama-server keeps of finished requests (`--cache-ram`),
the sampler chain over every candidate token per slot (top_k 0, which llem's greedy requests carried
until they carried top_k 1; top_p 0.95 with top_k 0, what they carried before that, which sorts the
whole vocabulary under flat logits; or llama.cpp's experimental backend sampling), flash attention
(llem passes its setting, default off), and streaming each token. The server is started from llem's own
plan (`llama_server.command`), and every request carries the fields llem's greedy requests carry.

    python benchmarks/llama_server_step.py GGUF [--server PATH] [--gpu] [--parallel 8] [--tokens 128]
        [--rounds 3] [--variants llem,top-k-0,top-p-0.95,verbosity-3,cache-ram-0,backend-sampling,flash-attn-auto,no-stream]

Each round starts one server per variant, in a rotated order, sends --parallel greedy requests at once
(one warm-up round first) and reads the server's own per-request timings (`predicted_per_token_ms`:
the time between a slot's tokens, so every slot's share of the step is in it). Prints, per variant,
the median ms per token over the rounds and its ratio to llem's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from llem.backends.llamacpp.config import LlamaCppConfig
from llem.backends.llamacpp.llama_server import binary, command
from llem.errors import UserError
from llem.serving.servers import free_port, wait_for_url

VARIANTS = {  # name: (flags to drop from llem's command line, flags to add, request fields to change)
    "llem": ((), (), {}),
    "verbosity-3": (("--log-verbosity", "4"), ("--log-verbosity", "3"), {}),
    "cache-ram-0": ((), ("--cache-ram", "0"), {}),
    "top-k-0": ((), (), {"top_k": 0}),  # llem's greedy requests before they carried top_k 1
    "top-p-0.95": ((), (), {"top_k": 0, "top_p": 0.95}),  # and before they carried top_p 1.0 (the server's default)
    "backend-sampling": ((), ("--backend-sampling",), {}),
    "flash-attn-auto": (("--flash-attn", "off"), ("--flash-attn", "auto"), {}),
    "no-stream": ((), (), {"stream": False}),
}


def _without(flags: list[str], drop: tuple[str, ...]) -> list[str]:
    if not drop:
        return list(flags)
    i = next(i for i in range(len(flags)) if tuple(flags[i : i + len(drop)]) == drop)
    return flags[:i] + flags[i + len(drop) :]


def _request(url: str, body: dict) -> float:
    """predicted_per_token_ms of one request, streamed (the last event carries the timings) or not."""
    req = urllib.request.Request(url + "/completion", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=900) as r:
        if not body.get("stream"):
            return json.loads(r.read())["timings"]["predicted_per_token_ms"]
        timings = None
        for raw in r:
            line = raw.decode().strip()
            if line.startswith("data:") and '"timings"' in line:
                timings = json.loads(line[5:])["timings"]
        if timings is None:
            raise SystemExit("the stream ended without the server's timings")
        return timings["predicted_per_token_ms"]


def one_round(url: str, parallel: int, tokens: int, fields: dict) -> float:
    body = dict(prompt="Write about the weather in a small town.", n_predict=tokens, cache_prompt=False, stream=True)
    body.update(fields)
    with ThreadPoolExecutor(parallel) as pool:
        return statistics.median(pool.map(lambda _: _request(url, body), range(parallel)))


def measure(args, name: str) -> float:
    drop, add, fields = VARIANTS[name]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # llem's own plan for this server (llem/backends/llamacpp/llama_server.py): its command line, and the fields
    # its greedy requests carry (request_extras, greedy_extras, temperature 0, ignore_eos)
    plan = command(
        LlamaCppConfig().model_dump(), args.gguf, port, 512, -1 if args.gpu else 0, args.threads, args.parallel, args.server
    )
    argv = _without(plan.argv, drop) + list(add)
    request = {**plan.request_extras, **plan.greedy_extras, "temperature": 0.0, "ignore_eos": True, **fields}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:

            def alive() -> None:
                if proc.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace").strip().splitlines()[-3:]
                    raise SystemExit(f"llama-server ({name}) exited with {proc.returncode}: {' | '.join(tail)}")

            wait_for_url(url + "/health", 300, "llama-server", alive=alive)
            one_round(url, args.parallel, 8, request)  # warm-up, not counted
            return one_round(url, args.parallel, args.tokens, request)
        finally:
            proc.terminate()
            proc.wait(30)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("--server", help="default: the llama-server llem would start (LLEM_LLAMA_SERVER, beside Python, PATH)")
    ap.add_argument("--gpu", action="store_true", help="offload every layer (--n-gpu-layers 999); else 0")
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    try:
        args.server = args.server or binary()
    except UserError as exc:
        print(exc)
        return 2
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        print(f"--variants: {unknown[0]} is not one of {', '.join(VARIANTS)}")
        return 2
    if "llem" not in names:
        names.insert(0, "llem")
    ms: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate which goes first
            ms[name].append(measure(args, name))
            print(f"  round {r + 1}: {name:<17} {ms[name][-1]:8.2f} ms per token", flush=True)
    base = statistics.median(ms["llem"])
    print(f"llama-server {args.server}, {os.path.basename(args.gguf)}, {args.parallel} greedy requests at once, "
          f"{args.tokens} tokens each, {args.rounds} rounds, {args.threads} threads, {'GPU' if args.gpu else 'CPU'}")  # fmt: skip
    for name, values in ms.items():
        med = statistics.median(values)
        print(
            f"  {name:<17} {med:8.2f} ms per token (median; rounds {', '.join(f'{x:.2f}' for x in values)})  x{med / base:.2f} of llem's"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

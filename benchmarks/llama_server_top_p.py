"""What llama-server's top-p costs a greedy request when top-k is off: llama.cpp's top-p sampler sorts every
candidate token, and with top_k 0 that is the whole vocabulary, for every sequence of every step, on the
CPU (llama.cpp issues 8988 and 15223). llem's requests are greedy and turn top-k off (its neutral sampling);
before 2026-12-07 they left top_p at the server's default 0.95, and on an H100 llama-server decoded 8 slots
at 112 ms a step (docs/measurements.md). This starts one llama-server on loopback and times the same greedy
requests with top_p 0.95 and 1.0, alternating, from the server's own per-request timings.

    python benchmarks/llama_server_top_p.py GGUF [--server PATH] [--parallel 4] [--tokens 64] [--rounds 5]

The server is LLEM_LLAMA_SERVER or --server (the CI build: .ci/install.d/30-llamacpp.sh). Prints, per
top_p, the median ms per generated token over the rounds (each round: --parallel requests at once), and
the ratio.
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

from llem.serving.servers import free_port, wait_for_url


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def _alive(proc: subprocess.Popen):
    def check() -> None:
        if proc.poll() is not None:
            raise SystemExit(f"llama-server exited with {proc.returncode} before it was ready")

    return check


def one_round(url: str, parallel: int, tokens: int, top_p: float) -> float:
    """ms per generated token, the median over `parallel` greedy requests sent at once."""
    body = {
        "prompt": "Write about the weather in a small town.",
        "n_predict": tokens,
        "temperature": 0.0,
        "top_k": 0,
        "top_p": top_p,
        "min_p": 0.0,
        "repeat_penalty": 1.0,
        "ignore_eos": True,
        "cache_prompt": False,
    }
    with ThreadPoolExecutor(parallel) as pool:
        answers = list(pool.map(lambda _: _post(url + "/completion", body), range(parallel)))
    return statistics.median(a["timings"]["predicted_per_token_ms"] for a in answers)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("--server", default=os.environ.get("LLEM_LLAMA_SERVER"))
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    if not args.server:
        print("no llama-server: set LLEM_LLAMA_SERVER or pass --server")
        return 2
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv_ = [args.server, "--model", args.gguf, "--host", "127.0.0.1", "--port", str(port), "--parallel", str(args.parallel),
             "--ctx-size", str(512 * args.parallel), "--cont-batching", "--threads", str(args.threads), "--no-kv-unified"]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv_, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_url(url + "/health", 120, "llama-server", alive=_alive(proc))
            one_round(url, args.parallel, 8, 1.0)  # warm-up, not counted
            ms = {0.95: [], 1.0: []}
            for i in range(args.rounds):
                for top_p in (0.95, 1.0) if i % 2 == 0 else (1.0, 0.95):  # alternate which goes first
                    ms[top_p].append(one_round(url, args.parallel, args.tokens, top_p))
        finally:
            proc.terminate()
            proc.wait(30)
    med = {p: statistics.median(v) for p, v in ms.items()}
    print(f"llama-server {args.server}, {os.path.basename(args.gguf)}, {args.parallel} greedy requests at once, top_k 0, "
          f"{args.tokens} tokens each, {args.rounds} rounds, {args.threads} threads")  # fmt: skip
    for p, v in ms.items():
        print(f"  top_p {p:<4}: {med[p]:7.2f} ms per token (median; rounds {', '.join(f'{x:.2f}' for x in v)})")
    print(f"  top_p 0.95 / top_p 1.0: x{med[0.95] / med[1.0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The echo engine's OpenAI-compatible server on loopback: /v1/models, streamed /v1/completions and
/v1/chat/completions (usage in the last chunk), and /metrics with per-request prefill/decode histograms."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from llem_echo_engine import model

MODEL_ID = "echo"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.values = {"prefill_sum": 0.0, "prefill_count": 0, "decode_sum": 0.0, "decode_count": 0}

    def add(self, prefill_s: float, decode_s: float) -> None:
        with self.lock:
            v = self.values
            v["prefill_sum"] += prefill_s
            v["decode_sum"] += decode_s
            v["prefill_count"] += 1
            v["decode_count"] += 1

    def text(self) -> str:
        with self.lock:
            v = dict(self.values)
        lines = []
        for phase in ("prefill", "decode"):
            lines += [
                f"# TYPE echo:request_{phase}_seconds histogram",
                f'echo:request_{phase}_seconds_sum{{model_name="{MODEL_ID}"}} {v[phase + "_sum"]}',
                f'echo:request_{phase}_seconds_count{{model_name="{MODEL_ID}"}} {v[phase + "_count"]}',
            ]
        return "\n".join(lines) + "\n"


def handler(args, stats: Stats):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):  # one line per request on the server's log
            print(fmt % a, flush=True)

        def _json(self, code: int, obj) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]})
            elif self.path == "/metrics":
                body = stats.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self):
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                return self._json(404, {"error": {"message": f"no route {self.path}"}})
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            chat = self.path.endswith("chat/completions")
            if chat:
                prompt = model.encode("\n".join(str(m.get("content", "")) for m in req.get("messages", [])))
            else:
                p = req.get("prompt", "")
                prompt = list(p) if isinstance(p, list) else model.encode(str(p))
            n = int(req.get("max_tokens") or req.get("max_completion_tokens") or 16)
            t0 = time.perf_counter()
            context = list(prompt)
            for i in range(len(prompt)):  # prefill: the same arithmetic over the prompt
                model.next_token(context[: i + 1], i, max(1, args.rounds // 8))
            prefill = time.perf_counter() - t0
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            t1 = time.perf_counter()
            for step in range(n):
                token = model.next_token(context, step, args.rounds)
                context.append(token)
                time.sleep(args.token_delay_s)
                text, finish = chr(token), ("length" if step == n - 1 else None)
                choice = (
                    {"index": 0, "delta": {"content": text}, "finish_reason": finish}
                    if chat
                    else {"index": 0, "text": text, "finish_reason": finish}
                )
                self._event(
                    {
                        "id": "echo",
                        "object": "chat.completion.chunk" if chat else "text_completion",
                        "model": MODEL_ID,
                        "choices": [choice],
                    }
                )
            stats.add(prefill, time.perf_counter() - t1)
            self._event(
                {
                    "id": "echo",
                    "model": MODEL_ID,
                    "choices": [],
                    "usage": {"prompt_tokens": len(prompt), "completion_tokens": n, "total_tokens": len(prompt) + n},
                }
            )
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, obj) -> None:
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

    return Handler


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="llem_echo_engine.serve")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token-delay-s", type=float, default=0.002)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args(argv)
    # what the engine's telemetry switch (Engine.telemetry_off) says, as a real engine would read it
    print(f"usage stats: {'off' if os.environ.get('ECHO_NO_USAGE_STATS') == '1' else 'on'}", flush=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args, Stats()))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()

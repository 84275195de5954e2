"""llama.cpp's real server with model=tiny (random weights, byte-level tokens): every request streams exactly
workload.output_tokens tokens. With the server's own sampling defaults (repeat_penalty 1.1) one shipped prompt
drove it into a run of incomplete-UTF-8 byte tokens and 206 tokens for max_tokens=8 (tests/serving/test_token_rule.py)."""

from __future__ import annotations

import pytest
from conftest import results_under, run_llem, flags_beside_host_load

LLAMACPP_SERVER = [
    pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
    pytest.mark.needs("starlette_context", "llama.cpp's server (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
]
pytestmark = [pytest.mark.slow, *LLAMACPP_SERVER]


def test_tiny_model_streams_exactly_the_requested_tokens(tmp_path):
    out = run_llem(
        [
            "backend=llamacpp",
            "model=tiny",
            "workload=server",
            "hardware=cpu",
            "tracking=none",
            "energy=none",
            "backend.n_threads=1",
            "workload.num_prompts=6",
            "workload.output_tokens=8",
            "workload.concurrency=2",
            "run.repeats=1",
            "-q",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    [result] = results_under(tmp_path)
    tokens = result["server"]["tokens"]
    assert tokens["client_output_tokens"] == 6 * 8
    # llama.cpp streams no usage: input tokens are the client's own count, never 0
    assert tokens["input_tokens_source"] == "client count (6)" and tokens["requests_with_server_prompt_usage"] == 0
    counted = result["requests"]["input_tokens"]
    assert len(counted) == 6 and all(n > 0 for n in counted)
    assert result["windows"][0]["whole_run"]["input_tokens"] == sum(counted)
    assert result["server"]["latency"]["tokens_per_chunk_source"] == "one per chunk (the server lists no token ids)"
    assert result["windows"][0]["load_generator"]["processes"] == 1
    assert result["server"]["load"]["request_body"]["repeat_penalty"] == 1.0
    assert flags_beside_host_load(result) == [], result["validity"]["flags"]

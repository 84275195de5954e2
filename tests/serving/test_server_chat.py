"""Chat completions end to end: `python -m llem ... workload.endpoint=chat` against llama.cpp's real server
on loopback, and the endpoint/source/backend combinations the CLI refuses before anything starts."""

from __future__ import annotations

import pytest
from conftest import results_under, run_llem


@pytest.mark.parametrize(
    "args, sentence",
    [
        (
            ["backend=vllm", "workload.source=synthetic", "workload.endpoint=chat"],
            "workload.source=synthetic cannot be sent with workload.endpoint=chat",
        ),
        (
            ["backend=llamacpp", "workload.source=synthetic"],
            "workload.source=synthetic is not supported by the backend=llamacpp server",
        ),
    ],
)
def test_cli_refuses_bad_prompt_and_endpoint_combinations_with_one_line(tmp_path, args, sentence):
    out = run_llem(
        args + ["model=tiny", "workload=server", "hardware=cpu", "tracking=none", f"run.output_root={tmp_path}"],
        tmp_path,
        timeout=120,
    )
    assert out.returncode == 2, out.stdout
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and sentence in lines[0], out.stdout
    assert not list(tmp_path.glob("**/result.json"))


@pytest.mark.slow
@pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh")
@pytest.mark.needs("starlette_context", "llama.cpp's server (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh")
def test_chat_against_llamacpp_streams_exact_lengths_with_latency_percentiles(tmp_path):
    n, out_tokens = 9, 8
    out = run_llem(
        [
            "backend=llamacpp",
            "model=tiny",
            "workload=server",
            "workload.endpoint=chat",
            "hardware=cpu",
            "tracking=none",
            "energy=none",
            "backend.n_threads=1",
            "workload.concurrency=3",
            f"workload.num_prompts={n}",
            f"workload.output_tokens={out_tokens}",
            "run.repeats=1",
            "run.warmup=1",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=400,
    )
    assert out.returncode == 0, out.stdout
    [result] = results_under(tmp_path)
    m, server = result["metrics"], result["server"]
    for name in ("ttft", "itl", "tpot", "e2e_latency"):
        p50, p90, p99 = (m[f"{name}_p{q}_s"] for q in (50, 90, 99))
        assert 0 < p50 <= p90 <= p99, name
    # the role-only opening delta and the finish-only closing delta carry no token: exactly output_tokens each
    assert server["tokens"]["client_output_tokens"] == n * out_tokens and server["tokens"]["finish_reasons"] == ["length"]
    assert result["windows"][0]["whole_run"]["output_tokens"] == n * out_tokens
    # no usage in llama.cpp's streams and a chat template the client does not see: input tokens null with a reason
    assert result["windows"][0]["whole_run"]["input_tokens"] is None
    assert server["tokens"]["input_tokens_reason"].startswith(f"{n} of {n} requests have no prompt token count")
    assert not [f for f in result["validity"]["flags"] if "workload.output_tokens" in f], result["validity"]["flags"]
    settings = result["engine"]["effective_settings"]
    assert settings["endpoint"] == "/v1/chat/completions" and "one user message" in settings["prompts"]
    # every end-of-generation token biased away (min_tokens would block token_eos() only; llama-cpp-python
    # drops both when a request carries the two, so the bias replaces it)
    body = server["load"]["request_body"]
    assert body["logit_bias"] and set(body["logit_bias"].values()) == {-1e9} and "min_tokens" not in body

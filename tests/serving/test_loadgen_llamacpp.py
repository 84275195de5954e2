"""The load generator against a real llama.cpp server (llama-cpp-python[server], SmolLM2 GGUF) on loopback."""

from __future__ import annotations

import pytest

LLAMACPP_SERVER = [
    pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
    pytest.mark.needs("starlette_context", "llama.cpp's server (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
]

from llem.backends.llamacpp.server import command as llamacpp_plan  # noqa: E402
from llem.serving.servers import ServerProcess, free_port  # noqa: E402
from llem.workload.loadgen import LoadSettings, RequestInput, served_model  # noqa: E402
from llem.workload.client import run_load  # noqa: E402


pytestmark = [pytest.mark.slow, *LLAMACPP_SERVER]
OUT = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from llem.backends.llamacpp.gguf import resolve_gguf
    from llem.config.spec import ModelSpec

    gguf, _ = resolve_gguf(ModelSpec(name="smollm2-135m", source="builtin", id="smollm2-135m", gguf="builtin"))
    settings = {
        "n_batch": 512,
        "n_ubatch": 512,
        "n_threads_batch": None,
        "flash_attn": False,
        "use_mmap": True,
        "seed": 0,
        "type_k": None,
        "type_v": None,
    }
    # one thread: llama.cpp's spinning workers crawl when other tests share the two cores
    plan = llamacpp_plan(settings, None, str(gguf), free_port(), 512, 0, 1)
    proc = ServerProcess(plan, tmp_path_factory.mktemp("llamacpp") / "server.log")
    proc.start()
    try:
        proc.wait_ready(120)
        yield proc
    finally:
        proc.stop()


def _inputs(n: int) -> list[RequestInput]:
    prompts = ["The capital of France is", "Once upon a time", "List three colours:", "2 + 2 ="]
    return [RequestInput(f"r{i}", prompts[i % len(prompts)], OUT) for i in range(n)]


def test_closed_loop_streams_every_token_and_opens_the_steady_state(server):
    events = []
    run = run_load(
        server.plan.url,
        served_model(server.plan.url),
        _inputs(5),
        LoadSettings(concurrency=2, extra_body={"temperature": 0.0, "min_tokens": OUT}),
        on_steady_open=lambda: events.append("open"),
        on_steady_close=lambda: events.append("close"),
    )
    assert events == ["open", "close"] and run.max_in_flight == 2
    assert 0 < run.client_cpu_s <= run.duration_s  # the client's event loop thread, over the run
    assert [o.error for o in run.outputs] == [None] * 5
    for o in run.outputs:
        assert o.client_tokens == OUT and o.finish_reason == "length"  # min_tokens honoured
        assert len(o.itl_s) == OUT - 1 and all(g >= 0 for g in o.itl_s)
        assert 0 < o.ttft_s <= o.latency_s and o.tpot_s > 0
        assert o.tpot_s == pytest.approx(sum(o.itl_s) / len(o.itl_s))
    # closed loop: request 3 goes out only when one of the first two has finished
    first_done = min(o.done_s for o in run.outputs[:2])
    assert run.outputs[2].sent_s >= first_done - 1e-3
    # The window opens when the second request takes its slot (before it goes out) and closes at the
    # first completion after the last send. Checked by the order of events in the client's one event
    # loop, not by a time tolerance that a loaded machine could break.
    first, second = run.outputs[0], run.outputs[1]
    assert first.sent_s <= run.steady_open_s <= second.sent_s < min(first.done_s, second.done_s)
    last_sent = max(o.sent_s for o in run.outputs)
    dones = sorted(o.done_s for o in run.outputs)
    i = next(k for k, d in enumerate(dones) if d >= last_sent)
    assert dones[i] <= run.steady_close_s <= (dones[i + 1] if i + 1 < len(dones) else run.duration_s)


def test_open_loop_respects_arrival_times_and_records_errors(server):
    run = run_load(
        server.plan.url,
        "any",
        _inputs(3),
        LoadSettings(concurrency=3, request_rate=4.0, arrival="constant", extra_body={"temperature": 0.0, "min_tokens": OUT}),
    )
    assert [o.scheduled_s for o in run.outputs] == [0.0, 0.25, 0.5]
    assert all(o.sent_s >= o.scheduled_s - 1e-3 for o in run.outputs)
    bad = run_load(server.plan.url, "any", [RequestInput("bad", {"not": "a prompt"}, OUT)], LoadSettings(concurrency=1))
    assert bad.outputs[0].error.startswith("HTTP ") and "prompt" in bad.outputs[0].error and not bad.outputs[0].ok
    assert bad.steady_open_s is not None and bad.steady_close_s is not None


def test_the_clients_prompt_count_is_what_the_server_counts(server):
    """llama.cpp's server sends no usage in a stream; asked without streaming, it says how many prompt tokens it
    took: the client's own count (the GGUF's vocabulary, llem/backends/llamacpp/prompt_tokens.py) must match."""
    import json
    import urllib.request

    from llem.backends.llamacpp.prompt_tokens import count_prompt_tokens

    gguf = server.plan.argv[server.plan.argv.index("--model") + 1]
    prompts = ["The capital of France is", "Once upon a time", "List three colours:", "2 + 2 =", "naïve café <|im_start|>"]
    counts = count_prompt_tokens(gguf, prompts)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for prompt, n in zip(prompts, counts):
        body = json.dumps({"prompt": prompt, "max_tokens": 1, "temperature": 0.0}).encode()
        req = urllib.request.Request(server.plan.url + "/v1/completions", body, {"Content-Type": "application/json"})
        with opener.open(req, timeout=60) as resp:
            assert json.loads(resp.read())["usage"]["prompt_tokens"] == n > 0, prompt
    streamed = run_load(
        server.plan.url,
        "any",
        [RequestInput("r0", prompts[0], OUT, prompt_tokens=counts[0])],
        LoadSettings(concurrency=1, extra_body={"temperature": 0.0, "min_tokens": OUT}),
    )
    [o] = streamed.outputs
    assert o.usage_prompt_tokens is None and o.input_tokens == counts[0]  # no usage streamed: the client count

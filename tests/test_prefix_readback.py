"""The hit rate read back from each engine's report (llem/backends/<name>/prefix_cache.py) and the
records built from it (llem/workload/prefix_cache.py). The usage objects below have the shapes the
engines send (vLLM 0.1x/0.2x OpenAI server, SGLang with --enable-cache-report, llama-server);
the real servers are exercised in tests/serving/test_server_vllm.py and test_loadgen_llamacpp.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from llem.backends.base import Generation
from llem.registry import engines, load_object
from llem.workload.loadgen import _take_chunk
from llem.workload.prefix_cache import HIT_RATE_TOLERANCE, hit_record, offline_hits, readout_for, summary
from llem.workload.records import RequestOutput


def _spec(backend="vllm", share=0.5, group=4, n=8, input_tokens=64, server_url=None, source="synthetic"):
    w = SimpleNamespace(
        source=source,
        prefix_share=share,
        prefix_group_size=group,
        num_prompts=n,
        input_tokens=input_tokens,
        server_url=server_url,
    )
    return SimpleNamespace(backend_name=backend, workload=w)


def test_every_engine_with_a_readout_names_an_importable_function():
    for name, info in engines().items():
        if info.prefix_cache:
            assert callable(load_object(info.prefix_cache)), name


def test_vllm_reads_cached_tokens_and_knows_an_absent_field_means_none_cached_on_its_own_server():
    read = readout_for(_spec()).server_read
    assert read({"prompt_tokens": 64, "prompt_tokens_details": {"cached_tokens": 32}}, None) == 32
    assert read({"prompt_tokens": 64, "completion_tokens": 4}, None) == 0  # left out when 0 (flag on: llem started it)
    assert read(None, None) is None  # no usage chunk: nothing was reported
    attached = readout_for(_spec(server_url="http://127.0.0.1:1")).server_read
    assert attached({"prompt_tokens": 64}, None) is None  # an attached server may run without the flag
    assert readout_for(_spec()).server_args == ("--enable-prompt-tokens-details",)


def test_sglang_and_llamacpp_readers():
    sg = readout_for(_spec("sglang"))
    assert sg.server_args == ("--enable-cache-report", "--enable-metrics")  # cached tokens; /metrics for preemptions
    assert sg.server_read({"prompt_tokens_details": {"cached_tokens": 0}}, None) == 0
    assert sg.server_read({"prompt_tokens_details": {"cached_tokens": 512}}, None) == 512
    # SGLang drops prompt_tokens_details when nothing was cached (0.5.17 usage_processor._details_if_cached):
    # on the server llem started with --enable-cache-report that is 0, not "not reported" (which overstated
    # the H100 hit rates of 2026-12-07: 0.500 over the requests with a hit, 0.237 over all)
    assert sg.server_read({"prompt_tokens": 5, "completion_tokens": 4}, None) == 0
    assert sg.server_read({"prompt_tokens": 5, "prompt_tokens_details": None}, None) == 0
    assert sg.server_read(None, None) is None  # no usage chunk at all
    attached = readout_for(_spec("sglang", server_url="http://127.0.0.1:1")).server_read
    assert attached({"prompt_tokens": 5}, None) is None  # an attached server may run without the flag
    assert attached({"prompt_tokens_details": {"cached_tokens": 7}}, None) == 7
    ll = readout_for(_spec("llamacpp")).server_read
    assert ll({"prompt_tokens": 9}, {"cache_n": 7, "prompt_n": 2}) == 7  # llama-server's timings
    assert ll({"prompt_tokens_details": {"cached_tokens": 3}}, {"cache_n": 7}) == 3  # the OpenAI field first
    assert ll({"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}, None) is None  # llama-cpp-python


def test_the_load_generator_keeps_usage_and_timings():
    out = RequestOutput(id="r", scheduled_s=0.0)
    _take_chunk(out, {"choices": [{"text": "a", "finish_reason": None}]}, 0.1)
    final = {
        "choices": [],
        "usage": {"prompt_tokens": 64, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 48}},
        "timings": {"cache_n": 48},
    }
    _take_chunk(out, final, 0.2)
    again = RequestOutput.from_dict(out.to_dict())  # crosses the client shards' process boundary
    assert again.usage["prompt_tokens_details"]["cached_tokens"] == 48 and again.timings == {"cache_n": 48}


def test_hit_record_numbers_and_ideal():
    spec = _spec(n=8, group=4, input_tokens=64, share=0.5)
    rec = hit_record(spec, [64] * 8, [0, 32, 32, 32, 0, 32, 32, None], "f", None, "emptied")
    assert rec["hit_rate"] == pytest.approx(32 * 5 / (64 * 7)) and rec["requests_reported"] == 7
    assert rec["ideal_hit_rate"] == pytest.approx(32 * 6 / (64 * 8))
    none = hit_record(spec, [64] * 8, [None] * 8, "usage.x", None, "emptied")
    assert none["hit_rate"] is None and "usage.x" in none["reason"] and none["cached_prompt_tokens"] is None


def test_summary_flags_a_rate_off_the_ideal_and_only_then():
    spec = _spec(n=8, group=4, input_tokens=64, share=0.5)
    ideal = hit_record(spec, [64] * 8, [0, 32, 32, 32, 0, 32, 32, 32], "f", None, "emptied")
    low = hit_record(spec, [64] * 8, [0, 16, 16, 16, 0, 16, 16, 16], "f", None, "emptied")
    block, flags = summary(spec, [ideal, low])
    assert block["hit_rate"] == pytest.approx((192 + 96) / 1024) and block["intended_share"] == 0.5
    assert block["tolerance"] == HIT_RATE_TOLERANCE and block["agrees"] is False
    assert len(flags) == 1 and flags[0].startswith("prefix_hit_rate_disagrees: window 1:") and "0.188" in flags[0]
    block, flags = summary(spec, [ideal, ideal])
    assert block["agrees"] is True and not flags


def test_a_cache_hit_without_a_shared_prefix_is_flagged():
    """share 0 (distinct prompts): any sizeable hit rate means the cache was not emptied."""
    spec = _spec(share=0.0)
    rec = hit_record(spec, [64] * 4, [64, 64, 64, 64], "f", None, "emptied")
    _, flags = summary(spec, [rec])
    assert rec["ideal_hit_rate"] == 0 and flags


def test_offline_hits_per_pass_and_engines_that_cannot_tell():
    spec = _spec(n=4, group=2, input_tokens=64, share=0.5)
    passes = [Generation([64] * 4, [2] * 4, cached_tokens=[0, 32, 0, 32]) for _ in range(2)]
    rec = offline_hits(spec, passes)
    assert rec["hit_rate"] == pytest.approx(0.25) and rec["ideal_hit_rate"] == pytest.approx(0.25)
    assert rec["source"] == "RequestOutput.num_cached_tokens"
    ll = offline_hits(_spec("llamacpp", n=4, group=2), [Generation([64] * 4, [2] * 4)])
    assert ll["hit_rate"] is None and "resets the context" in ll["reason"]
    assert ll["cache_state_at_window_start"].startswith("no prefix reuse")
    trt = offline_hits(_spec("tensorrt", n=4, group=2), [Generation([64] * 4, [2] * 4)])
    assert trt["hit_rate"] is None and "no prefix-cache readout" in trt["reason"]


def test_sglang_offline_reads_each_results_cached_tokens():
    """sglang.Engine.generate returns one dict per request whose meta_info carries cached_tokens (0.5.17's
    tokenizer_manager sets it for every request, 0 included): the H100 structured-output run of 2026-12-07
    recorded "not read by llem yet" where SGLang had told."""
    from llem.backends.sglang.prefix_cache import offline_cached

    results = [
        {"text": "", "output_ids": [5, 6], "meta_info": {"prompt_tokens": 64, "completion_tokens": 2, "cached_tokens": 0}},
        {"text": "", "output_ids": [5, 6], "meta_info": {"prompt_tokens": 64, "completion_tokens": 2, "cached_tokens": 32}},
        {"text": "", "output_ids": [5, 6], "meta_info": {"prompt_tokens": 64, "completion_tokens": 2}},  # an older SGLang
        {"text": "", "output_ids": [5, 6], "meta_info": {"cached_tokens": -1}},  # not a count
        {"text": "", "output_ids": [5, 6]},
    ]
    assert offline_cached(results) == [0, 32, None, None, None]
    spec = _spec("sglang", n=4, group=2, input_tokens=64, share=0.5)
    rec = offline_hits(spec, [Generation([64] * 4, [2] * 4, cached_tokens=offline_cached(results[:2] * 2))])
    assert rec["hit_rate"] == pytest.approx(0.25) and rec["ideal_hit_rate"] == pytest.approx(0.25)
    assert rec["source"] == "meta_info.cached_tokens (sglang.Engine.generate)" and rec["reason"] is None


def test_vllm_metrics_counters_parsed_and_differenced():
    from llem.backends.vllm.prefix_cache import parse_counters
    from llem.workload.prefix_cache import counter_delta

    text = (
        "# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.\n"
        "# TYPE vllm:prefix_cache_hits_total counter\n"
        'vllm:prefix_cache_hits_total{engine="0",model_name="m"} 1536.0\n'
        'vllm:prefix_cache_queries_total{engine="0",model_name="m"} 4096.0\n'
        'vllm:prefix_cache_queries_created{engine="0",model_name="m"} 1.7e9\n'
    )
    now = parse_counters(text)
    assert (now["hits"], now["queries"]) == (1536.0, 4096.0)
    assert parse_counters("vllm:num_requests_running 1\n") is None
    delta = counter_delta({"hits": 512.0, "queries": 2048.0}, now)
    assert (delta["hits"], delta["queries"], delta["hit_rate"]) == (1024.0, 2048.0, 0.5)
    assert counter_delta(None, now) is None

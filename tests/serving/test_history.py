"""Multi-turn sessions: whether each conversation's history stayed cached, the engines' KV-pressure counters
as their servers export them, and the eviction point (llem/harness/history.py)."""

from __future__ import annotations

from llem.backends.sglang.prefix_cache import parse_pressure as sglang_pressure
from llem.backends.vllm.prefix_cache import parse_pressure as vllm_pressure
from llem.harness.history import eviction_point, history_reuse, pressure_delta
from llem.workload.records import RequestOutput
from specs import compose_spec

# vLLM's /metrics (names and label sets as vLLM 0.26-0.32 export them; the counter with its _total suffix)
VLLM_TEXT = """# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="tiny"} 7.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} 0.8125
vllm:prefix_cache_hits_total{engine="0",model_name="tiny"} 96.0
"""
# SGLang's /metrics with --enable-metrics (srt/observability/metrics_collector.py of 0.5.16)
SGLANG_TEXT = """# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="m",engine_type="unified",tp_rank="0"} 0.42
# TYPE sglang:num_retracted_requests_total counter
sglang:num_retracted_requests_total{model_name="m",engine_type="unified",tp_rank="0"} 3.0
sglang:num_retracted_reqs{model_name="m",engine_type="unified",tp_rank="0"} 0.0
"""


def test_each_engine_reads_its_own_preemption_counter():
    v = vllm_pressure(VLLM_TEXT)
    assert v == {"preemptions": 7.0, "source": "vllm:num_preemptions_total (/metrics)"}
    s = sglang_pressure(SGLANG_TEXT)
    assert s["preemptions"] == 3.0  # the counter, not the older gauge of the same meaning
    assert vllm_pressure("vllm:prefix_cache_hits_total 1.0\n") is None and sglang_pressure("") is None


def _out(prompt_tokens, cached, ok=True):
    return RequestOutput(
        id="r",
        scheduled_s=0.0,
        error=None if ok else "HTTP 500",
        done_s=1.0,
        usage_prompt_tokens=prompt_tokens,
        usage={"prompt_tokens": prompt_tokens, "prompt_tokens_details": {"cached_tokens": cached}},
    )


def test_history_served_per_turn():
    spec = compose_spec("backend=vllm", "workload.mode=server", "workload.endpoint=chat", "workload.turns=3")
    previous = [_out(100, 0), _out(200, 0), _out(300, 0), _out(50, 0, ok=False)]
    current = [_out(180, 112), _out(290, 128), _out(400, 0), _out(120, 0)]
    rec = history_reuse(spec, previous, current)
    # the failed conversation is left out; cached beyond the last prompt (the answer's blocks) counts as the prompt
    assert rec["conversations"] == 3 and rec["history_tokens"] == 600
    assert rec["served_share"] == (100 + 128 + 0) / 600 and rec["reason"] is None
    assert history_reuse(spec, None, current) is None  # the first turn has no history
    unread = history_reuse(spec, previous, [RequestOutput(id="r", scheduled_s=0.0, done_s=1.0)] * 4)
    assert unread["served_share"] is None and unread["reason"]  # unknown, not 0


def _run(*preemptions):
    return {
        "turns": [{"kv_pressure": {"preemptions": p, "source": "vllm:num_preemptions_total (/metrics)"}} for p in preemptions]
    }


def test_the_eviction_point_is_the_first_turn_the_engine_preempted_in():
    e = eviction_point([_run(0, 0, 2), _run(0, 1, 4)])
    assert e["first_turn"] == 1 and e["evidence"].startswith("turn 1: the engine preempted 1 requests over 2 run(s)")
    quiet = eviction_point([_run(0, 0)])
    assert quiet["first_turn"] is None and quiet["reason"] == "the engine preempted no request in 2 turns"
    blind = eviction_point([_run(None, None)])
    assert blind["first_turn"] is None and "exports no preemption counter" in blind["reason"]  # unknown, not "none"


def test_preemptions_over_a_turn():
    before, after = vllm_pressure(VLLM_TEXT), dict(vllm_pressure(VLLM_TEXT), preemptions=9.0)
    assert pressure_delta(before, after)["preemptions"] == 2.0
    none = pressure_delta(None, after)
    assert none["preemptions"] is None and none["reason"]

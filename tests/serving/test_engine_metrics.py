"""The engine's Prometheus counters of prefill and decode time, parsed and differenced."""

from __future__ import annotations

import pytest

from llem.backends.llamacpp.server_metrics import SERIES as LLAMA_SERIES, phase_share as llama_share
from llem.registry import engine
from llem.serving.engine_metrics import parse, phase_share, scrape

SERIES = engine("vllm").phase_series  # what llem/backends/vllm/__init__.py names

TEXT = """# HELP vllm:request_prefill_time_seconds Histogram of time spent in PREFILL phase for request.
# TYPE vllm:request_prefill_time_seconds histogram
vllm:request_prefill_time_seconds_bucket{engine="0",le="0.3",model_name="m"} 3.0
vllm:request_prefill_time_seconds_sum{engine="0",model_name="m"} 1.5
vllm:request_prefill_time_seconds_count{engine="0",model_name="m"} 3.0
vllm:request_prefill_time_seconds_sum{engine="1",model_name="m"} 0.5
vllm:request_prefill_time_seconds_count{engine="1",model_name="m"} 1.0
vllm:request_decode_time_seconds_sum{engine="0",model_name="m"} 6.0
vllm:request_decode_time_seconds_count{engine="0",model_name="m"} 4.0
vllm:num_requests_running{engine="0",model_name="m"} 0.0
"""


def test_sums_over_engines_and_the_split_of_a_run():
    before = parse(TEXT, SERIES)
    assert before == {"prefill_sum": 2.0, "prefill_count": 4.0, "decode_sum": 6.0, "decode_count": 4.0}
    after = {"prefill_sum": 3.0, "prefill_count": 8.0, "decode_sum": 9.0, "decode_count": 8.0}
    split = phase_share(before, after, None, SERIES)
    assert split["prefill_s"] == 1.0 and split["decode_s"] == 3.0 and split["requests"] == 4.0
    assert split["prefill_share"] == pytest.approx(0.25)
    assert "vllm:request_prefill_time_seconds_sum" in split["source"]
    assert phase_share(None, None, "no /metrics")["prefill_share"] is None


def test_a_server_without_the_counters_is_null_with_the_reason():
    series, why = scrape("http://127.0.0.1:9", SERIES)  # nothing listens on the discard port
    assert series is None and "no /metrics endpoint" in why
    series, why = scrape("http://127.0.0.1:9", None, "sglang")  # an engine that names no series: not asked
    assert series is None and "sglang engine names no per-request prefill/decode series" in why


LLAMA = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 400
llamacpp:prompt_tokens_cached_total 40
llamacpp:prompt_seconds_total 2
llamacpp:tokens_predicted_total 800
llamacpp:tokens_predicted_seconds_total 6
llamacpp:n_decode_total 100
llamacpp:n_busy_slots_per_decode 2
"""


def test_llama_servers_counters_give_the_split_and_the_runs_own_batch_occupancy():
    before = parse(LLAMA, LLAMA_SERIES)
    assert before["prompt_s"] == 2.0 and before["n_decode"] == 100.0
    after = dict(
        before, prompt_s=3.0, predicted_s=9.0, n_decode=300.0, busy_per_decode=3.0, prompt_tokens=600.0, cached_tokens=40.0
    )
    split = phase_share(before, after, None, LLAMA_SERIES, llama_share)
    assert split["prefill_s"] == 1.0 and split["decode_s"] == 3.0 and split["prefill_share"] == pytest.approx(0.25)
    # 200 busy-slot calls before, 900 after: 700 over the run's 200 calls
    assert split["llama_decode_calls"] == 200.0 and split["busy_slots_per_decode"] == pytest.approx(3.5)
    assert split["prompt_tokens_evaluated"] == 200.0 and split["prompt_tokens_cached"] == 0.0
    assert parse(TEXT, SERIES).keys().isdisjoint(before.keys())  # vLLM's series and llama-server's never mix

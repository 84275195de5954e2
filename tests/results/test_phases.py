"""Prefill vs decode (run.phases): hand-computed split, and the whole pipeline on CPU with the
replayed NVML counter."""

from __future__ import annotations

import json
import math

import pytest

from conftest import REPO, llem_env, run_llem
from llem.results.phases import phase_split


def _w(energy, duration, inp, out, passes=1, dyn=None):
    return {
        "energy_j": energy,
        "dynamic_energy_j": dyn,
        "duration_s": duration,
        "input_tokens": inp,
        "output_tokens": out,
        "passes": passes,
    }


def test_the_split_by_hand():
    # 4 requests x 100 prompt tokens x 32 output tokens; full passes 50 J / 2 s, prefill-only passes 10 J / 0.4 s
    full = [_w(49.0, 1.9, 400, 128), _w(51.0, 2.1, 400, 128), _w(100.0, 4.0, 800, 256, passes=2)]
    prefill = [_w(9.0, 0.4, 400, 4), _w(11.0, 0.4, 400, 4), _w(10.0, 0.4, 400, 4)]
    p = phase_split(full, prefill, requests=4)
    assert p["prefill_j_per_input_token"]["mean"] == pytest.approx(10.0 / 400)
    assert p["decode_tokens_per_pass"] == 124  # 128 output tokens, 4 of them from the prefill
    assert p["decode_j_per_output_token"]["mean"] == pytest.approx((50.0 - 10.0) / 124)
    # half-widths: full 49, 51, 50 -> std 1, t(2) 4.303 -> 2.484; prefill 9, 11, 10 the same; in quadrature
    h = 4.303 * 1 / math.sqrt(3)
    assert p["decode_j_per_output_token"]["ci95_half"] == pytest.approx(math.hypot(h, h) / 124, rel=1e-4)
    assert p["prefill_time_share"] == pytest.approx(0.4 / 2.0)
    assert p["prefill_dynamic_j_per_input_token"]["mean"] is None  # no baseline: null, not 0
    assert "continuous batching" in p["assumption"] and "flag" not in p


def test_the_prefill_split_recovers_a_fixed_part_per_call_and_a_part_per_token():
    # 2 calls per pass, 4 J fixed per call (launch, weight reads, idle over the pass), 0.01 J per input token;
    # dynamic: 1.5 J per call, 0.008 J per token. Prompts of 400 tokens per pass, then cut to 200.
    def pre(tokens, scale=1.0):
        w = _w(scale * (2 * 4.0 + 0.01 * tokens), 0.4, tokens, 4, dyn=scale * (2 * 1.5 + 0.008 * tokens))
        return dict(w, batch_requests=[2, 2])

    long = [pre(400, s) for s in (0.99, 1.0, 1.01)]
    short = [pre(200, s) for s in (1.01, 1.0, 0.99)]
    p = phase_split([_w(50.0, 2.0, 400, 128)] * 3, long, requests=4, short=short)
    split = p["prefill_split"]
    assert list(split)[list(split).index("prefill_dynamic_j_per_call") :][:2] == [
        "prefill_dynamic_j_per_call",
        "prefill_dynamic_j_per_input_token_marginal",
    ]  # dynamic figures first
    assert split["prefill_dynamic_j_per_call"]["mean"] == pytest.approx(1.5)
    assert split["prefill_dynamic_j_per_input_token_marginal"]["mean"] == pytest.approx(0.008)
    assert split["prefill_j_per_call"]["mean"] == pytest.approx(4.0)
    assert split["prefill_j_per_input_token_marginal"]["mean"] == pytest.approx(0.01)
    assert split["calls_per_pass"] == 2 and split["input_tokens_per_pass"] == [400, 200]
    assert split["prefill_j_per_call"]["ci95_half"] > 0 and "reason" not in split
    # the per-token average the plain figure gives is mostly the fixed part: 12 J / 400 tokens = 0.03 J
    assert p["prefill_j_per_input_token"]["mean"] == pytest.approx(0.03)
    # different calls at the two lengths: no split, said so
    other = [dict(w, batch_requests=[4]) for w in short]
    bad = phase_split([_w(50.0, 2.0, 400, 128)] * 3, long, requests=4, short=other)["prefill_split"]
    assert bad["prefill_j_per_call"]["mean"] is None and "same engine calls" in bad["reason"]


def test_negative_decode_energy_is_flagged():
    p = phase_split([_w(10.0, 1.0, 400, 128)] * 2, [_w(12.0, 1.0, 400, 4)] * 2, requests=4)
    assert p["decode_j_per_output_token"]["mean"] < 0 and p["flag"].startswith("decode energy came out negative")


def test_phases_end_to_end_with_replayed_energy(tmp_path):
    env = llem_env(LLEM_FAKE_NVML_TRACE=str(REPO / "tests" / "data" / "nvml_trace_h100.csv"))
    proc = run_llem(
        [
            "model=tiny",
            "hardware=auto",
            "tracking=none",
            "workload.num_prompts=2",
            "workload.batch_size=2",
            "workload.output_tokens=8",
            "run.repeats=2",
            "run.phases=true",
            "energy.baseline_s=1",
            "run.min_window_s=1",
            "energy.sampler=false",
        ],
        tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout
    [path] = tmp_path.glob("outputs/runs/*/result.json")
    r = json.loads(path.read_text())
    p = r["phases"]
    assert len(p["prefill_windows"]) == 2 and all(w["output_tokens"] == 2 * w["passes"] for w in p["prefill_windows"])
    full_e = sum(w["energy_j"] / w["passes"] for w in r["windows"]) / 2
    pre_e = sum(w["energy_j"] / w["passes"] for w in p["prefill_windows"]) / 2
    inputs = p["prefill_windows"][0]["input_tokens"] / p["prefill_windows"][0]["passes"]
    assert r["metrics"]["prefill_j_per_input_token"] == pytest.approx(pre_e / inputs)
    assert r["metrics"]["decode_j_per_output_token"] == pytest.approx((full_e - pre_e) / (16 - 2))
    # the prefill-only windows at half the prompt length, the same calls: the split of prefill's energy
    split = p["prefill_split"]
    assert len(split["short_windows"]) == 2 and split["calls_per_pass"] == 1
    assert split["input_tokens_per_pass"][1] == sum(n // 2 for n in r["requests"]["input_tokens"])
    assert split["prefill_j_per_call"]["mean"] is not None
    # the main windows still say 8 output tokens per request: the engine went back to the job's spec
    assert all(w["output_tokens"] == 16 * w["passes"] for w in r["windows"])

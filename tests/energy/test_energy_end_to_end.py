"""The whole pipeline (CLI -> worker -> harness -> meter -> result.json), for real on CPU.

1. This machine has no sensor: every energy figure must be null with a reason, never 0.
2. With the test-only LLEM_FAKE_NVML_TRACE hook the worker meters a replayed GPU drawing a known,
   constant 300 W with its counter stepping every 100 ms as a real one does: joules (exact to under
   one step), baseline, dynamic energy, derived metrics, the short-window flag (both ways, through
   energy.min_window_updates) and the time series are checked against that known power.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import llem_env, results_under, run_llem
from replay_traces import POWER_W, STEP_J, STEP_S, constant_power_trace

pytestmark = pytest.mark.slow

FAST = [
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload=synthetic",
    "workload.num_prompts=4",
    "workload.batch_size=4",
    "workload.input_tokens=16",
    "workload.output_tokens=16",
    "run.repeats=2",
]
ENERGY_KEY = re.compile(r"(energy|_j$|_j_|power_w|co2e|tokens_per_j)")


def energy_values(node, path=""):
    """(path, value) for every energy-like field, skipping counts and descriptive text."""
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}"
            if isinstance(v, (dict, list)):
                yield from energy_values(v, p)
            elif ENERGY_KEY.search(k) and k not in ("n", "n_missing") and not isinstance(v, str):
                yield p, v
            elif ENERGY_KEY.search(path) and k in ("mean", "std", "cv", "ci95_low", "ci95_high", "min", "max"):
                yield p, v
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from energy_values(v, f"{path}[{i}]")


def test_cpu_machine_reports_no_energy_and_says_why(tmp_path):
    out = run_llem(
        FAST + ["energy=auto", "energy.grid_intensity_g_per_kwh=400", f"run.output_root={tmp_path}"],
        tmp_path,
        env=llem_env(LLEM_POWERCAP_ROOT=tmp_path / "no-powercap"),
    )
    assert out.returncode == 0, out.stdout
    [result] = results_under(tmp_path)
    found = list(energy_values(result))
    paths = {p for p, _ in found}  # the walk really reached the headline, windows and statistics
    assert {
        ".metrics.energy_j_per_output_token",
        ".metrics.co2e_g",
        ".windows[1].energy_j",
        ".windows[0].energy.total_j",
        ".statistics.energy_j_per_output_token",
    } <= paths
    assert [(p, v) for p, v in found if v is not None] == []
    reason = result["metrics"]["energy_reason"]
    assert "nothing is measurable here" in reason
    assert result["energy"]["meter"]["meter"] == "none" and "nothing is measurable" in result["energy"]["meter"]["reason"]
    for w in result["windows"]:
        assert w["energy"]["total_j"] is None and "nothing is measurable" in w["energy"]["reason"]
    assert result["energy"]["baseline"]["power_w"] is None and result["energy"]["baseline"]["reason"]
    assert "not measured" in out.stdout


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> tuple[dict, str]:
    """One sweep on the replayed GPU, one engine load: two points that differ only in
    energy.min_window_updates (1000: every window short; 2: as short as a window gets), keyed by it,
    with the output of the sweep."""
    root = tmp_path_factory.mktemp("replayed")
    trace = root / "constant_300w.csv"
    constant_power_trace(trace)
    out = run_llem(
        ["--multirun", *FAST]
        + [
            "energy=auto",
            "energy.grid_intensity_g_per_kwh=400",
            "energy.sample_interval_s=0.05",
            "run.min_window_s=0.5",  # windows of >= 5 counter updates: measurable, and short on purpose
            "energy.baseline_s=1",
            "energy.min_window_updates=1000,2",
            f"run.output_root={root}",
        ],
        root,
        env=llem_env(LLEM_FAKE_NVML_TRACE=trace, LLEM_POWERCAP_ROOT=root / "no-powercap"),
    )
    assert out.returncode == 0, out.stdout
    results = {}
    for path in sorted(root.glob("**/runs/*/result.json")):
        result = json.loads(path.read_text())
        results[result["spec"]["energy"]["min_window_updates"]] = (result, path.parent)
    assert sorted(results) == [2, 1000] and len(results_under(root)) == 2, sorted(results)
    return results, out.stdout


def test_replayed_gpu_gives_known_joules_through_the_whole_pipeline(replayed):
    results, stdout = replayed
    result, run_dir = results[1000]
    meter = result["energy"]["meter"]
    # the meter measured the counter's period (five changes, timestamped to one 2 ms poll)
    assert meter["meter"] == "nvml" and meter["parts"][0]["update_period_s"] == pytest.approx(STEP_S, abs=0.01)
    base = result["energy"]["baseline"]
    assert base["power_w"] == pytest.approx(POWER_W, abs=STEP_J / base["duration_s"])
    flags = result["validity"]["flags"]
    for w in result["windows"]:
        m = w["energy"]
        # The counter moves in whole 30 J steps, and over d seconds by POWER_W * d to under one step.
        raw = m["raw"]["gpu0"]
        assert raw["begin"] % (STEP_J * 1000) == 0 and raw["end"] % (STEP_J * 1000) == 0
        assert abs(m["total_j"] - POWER_W * m["duration_s"]) < STEP_J + 1e-6
        assert m["energy_j"] == {"gpu0": m["total_j"]}
        a = m["alignment"]["gpu0"]
        # Aligned edges: the counter's delta, less the idle energy before the start and after the work.
        assert a["begin"]["aligned"] and a["end"]["aligned"] and a["baseline_power_w"] == pytest.approx(base["power_w"])
        assert a["begin"]["wait_s"] <= 1.5 * STEP_S + 0.05 and a["end"]["wait_s"] <= 1.5 * STEP_S + 0.05
        corrections_j = a["begin_correction_j"] + a["end_correction_j"]
        assert corrections_j <= 0
        assert (m["raw"]["gpu0"]["end"] - m["raw"]["gpu0"]["begin"]) / 1000 + corrections_j == pytest.approx(m["total_j"])
        assert m["residual_j"]["low"] <= 0 <= m["residual_j"]["high"]
        c = w["conditions"]  # the sampler's series, sliced to this window
        assert c["samples"] >= 2 and c["mean_power_w"] == c["peak_power_w"] == POWER_W
        assert c["instant_to_counter_ratio"] == pytest.approx(1.0, abs=0.1)
        assert c["throttled_s"] == {} and c["throttle_unknown_s"] == 0
        assert c["sm_clock_mhz_min"] == 1980 and c["power_limit_w"] == {"gpu0": 700.0}
        assert w["energy_j"] == m["total_j"]
        assert w["energy_j_per_output_token"] == pytest.approx(m["total_j"] / w["output_tokens"])
        assert w["output_tokens"] == 4 * 16 * w["passes"] and w["duration_s"] >= 0.5
        assert w["dynamic_energy_j"] == pytest.approx(m["total_j"] - base["power_w"] * w["duration_s"])
        assert (
            abs(w["dynamic_energy_j"])
            <= STEP_J + POWER_W * abs(m["duration_s"] - w["duration_s"]) + abs(base["power_w"] - POWER_W) * w["duration_s"] + 1e-6
        )
        assert w["co2e_g"] == pytest.approx(m["total_j"] / 3.6e6 * 400)
        assert w["energy_delay_j_s"] == pytest.approx(m["total_j"] * w["duration_s"])
        # energy.min_window_updates=1000 (100 s): every window is short, flagged with its numbers.
        updates = m["duration_s"] / m["update_period_s"]
        [flag] = [f for f in flags if f.startswith(f"window {w['index']}: short_window")]
        assert f"{m['duration_s']:.2f} s is {updates:.1f} counter updates (< 1000)" in flag
        r = m["residual_j"]  # aligned edges: the flag quotes the window's own residual bound
        assert f"edge residual {r['low']:+.3g} to {r['high']:+.3g} J" in flag
        assert f">= {1000 * m['update_period_s']:.1f} s" in flag
    assert result["validity"]["ok"] is False and "short_window" in stdout
    assert result["metrics"]["energy_reason"] is None
    assert result["metrics"]["energy_basis"].startswith("measured")
    assert result["metrics"]["energy_scope"] == "gpu"  # the replayed GPU only: no RAPL on this machine
    assert result["validity"]["windows_measured"] == "2 of 2"
    assert base["settle"]["settled"] is True and base["counter_updates"] >= 50
    assert base["after"]["power_w"] == pytest.approx(POWER_W, rel=0.01) and abs(base["drift_w"]) < 3
    u = result["energy"]["uncertainty"]["energy_j_per_output_token"]
    assert u["not_evaluated"] == [] and set(u["components"]) == {"edge_residual", "repeats"}
    assert u["interval"][0] <= result["metrics"]["energy_j_per_output_token"] <= u["interval"][1]
    assert "baseline" in result["energy"]["uncertainty"]["dynamic_energy_j_per_output_token"]["components"]
    assert result["statistics"]["energy_j"]["n"] == 2
    ts = result["timeseries"]
    assert ts["file"] == "timeseries.csv" and ts["samples"] >= 2
    assert ts["mean_power_w"] == ts["peak_power_w"] == POWER_W and ts["max_temperature_c"] == 60
    # window time apart from baselines, cooldown and idle
    assert ts["windows"]["seconds"] + ts["outside_windows"]["seconds"] == pytest.approx(ts["duration_s"], abs=0.05)
    assert ts["windows"]["seconds"] == pytest.approx(sum(w["duration_s"] for w in result["windows"]), abs=0.2)
    assert (run_dir / "timeseries.csv").is_file()
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["cuda_device_order"] == "PCI_BUS_ID"  # set in the worker before CUDA starts
    gpus = env["gpus"]
    assert gpus[0]["power_limit_w"] == 700.0 and gpus[0]["driver_version"]


def test_min_window_updates_sets_where_a_window_counts_as_short(replayed):
    """energy.min_window_updates=2: a window is flagged exactly when it spans fewer than 2 counter
    updates (a tiny-model window spans several, so in practice none is). The second point of the
    replayed sweep: the same job but for that setting."""
    result, _ = replayed[0][2]
    assert result["spec"]["energy"]["min_window_updates"] == 2
    flags = result["validity"]["flags"]
    for w in result["windows"]:
        short = w["energy"]["duration_s"] / w["energy"]["update_period_s"] < 2
        assert any(f.startswith(f"window {w['index']}: short_window") for f in flags) == short
        assert abs(w["energy_j"] - POWER_W * w["energy"]["duration_s"]) < STEP_J + 1e-6
    assert result["validity"]["ok"] is (not flags)


def test_power_capped_replay_is_flagged_with_its_seconds(tmp_path):
    """A replayed GPU that is power-capped (sw_power_cap) all along, edges unaligned: every window
    says so with its evidence, and the result is not valid."""
    trace = tmp_path / "capped.csv"
    constant_power_trace(trace, counter_step_s=0.1, throttle_reasons=0x4)
    out = run_llem(
        FAST
        + [
            "energy=nvml",
            "energy.align_edges=false",
            "energy.baseline_s=0.5",
            "energy.settle_max_s=0",
            "energy.baseline_min_updates=5",
            "energy.sample_interval_s=0.05",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        env=llem_env(LLEM_FAKE_NVML_TRACE=trace),
    )
    assert out.returncode == 0, out.stdout
    [result] = results_under(tmp_path)
    assert result["energy"]["meter"]["align_edges"] is False
    flags = result["validity"]["flags"]
    for w in result["windows"]:
        assert not w["energy"]["alignment"]["gpu0"]["begin"]["aligned"]
        r = w["energy"]["residual_j"]
        assert r["low"] < 0 < r["high"]  # one period of each edge, with its sign
        c = w["conditions"]
        assert c["throttled_s"]["sw_power_cap"] == pytest.approx(w["energy"]["duration_s"], abs=0.15)
        assert any(f.startswith(f"throttled: window {w['index']}: sw_power_cap for") for f in flags)
    assert result["validity"]["ok"] is False
    assert result["timeseries"]["windows"]["throttled_s"] > 0
    assert "throttled" in out.stdout

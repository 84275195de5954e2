"""The energy-optimal configuration under a latency target, and the multi-objective study."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import require_module, run_llem
from llem.results.objective import objective_result
from llem.report.slo import choose, slo_lines


def _row(run_id, jpt, lat, ttft=None, e2e=None):
    return {
        "run_id": run_id,
        "status": "ok",
        "energy_j_per_output_token": jpt,
        "batch_latency_p90_s": lat,
        "ttft_p90_s": ttft,
        "e2e_latency_p90_s": e2e,
    }


ROWS = [
    _row("bs1", 0.90, 0.4, ttft=0.05),
    _row("bs8", 0.30, 1.2, ttft=0.20),
    _row("bs32", 0.12, 3.5, ttft=0.90),
    _row("noenergy", None, 0.1),
]


def test_lowest_energy_within_the_target_and_its_saving_against_the_fastest():
    c = choose(ROWS, latency_s=2.0)
    assert c["best"]["run_id"] == "bs8" and c["fastest"]["run_id"] == "bs1"  # bs1 is the fastest with energy
    assert c["saving_vs_fastest"] == pytest.approx(1 - 0.30 / 0.90)
    assert c["feasible"] == 2 and c["of"] == 3
    text = "\n".join(slo_lines(c))
    assert "lowest energy with latency p90 <= 2 s: bs8 at 0.3 J/output token (2 of 3 runs meet the target)" in text
    assert "+66.7% energy saved" in text
    both = choose(ROWS, ttft_s=0.1, latency_s=5)
    assert both["best"]["run_id"] == "bs1" and both["saving_vs_fastest"] == 0
    none = choose(ROWS, latency_s=0.2)
    assert none["best"] is None and "none (no run meets the target)" in slo_lines(none)[0]


def test_server_runs_are_judged_by_their_end_to_end_latency_and_unknown_ttft_is_said():
    rows = [_row("c4", 0.2, None, ttft=None, e2e=1.0), _row("c64", 0.05, None, ttft=None, e2e=6.0)]
    c = choose(rows, latency_s=2.0)
    assert c["best"]["run_id"] == "c4"
    unknown = choose(rows, ttft_s=0.5)
    assert unknown["best"] is None and unknown["latency_unknown"] == ["c4", "c64"]


def test_a_multi_objective_returns_one_value_each():
    metrics = {"energy_j_per_output_token": None, "output_tokens_per_s": 40.0, "batch_latency_p90_s": 0.8}
    assert objective_result("energy_j_per_output_token|output_tokens_per_s,batch_latency_p90_s", None, metrics) == [-40.0, 0.8]
    assert objective_result("energy_j_per_output_token,batch_latency_p90_s", None, metrics) is None  # never 0


@pytest.mark.slow
def test_two_objective_optuna_study_keeps_the_pareto_front(tmp_path):
    require_module("hydra_plugins.hydra_optuna_sweeper", "hydra-optuna-sweeper", "pip install hydra-optuna-sweeper==1.3.0")
    proc = run_llem(
        [
            "--multirun",
            "+experiment=optuna_pareto",
            "model=tiny",
            "hardware=cpu",
            "tracking=none",
            # 32 prompts: the study's largest batch (a batch the prompts cannot fill is refused)
            "workload.num_prompts=32",
            "workload.output_tokens=4",
            "run.repeats=1",
            "run.warmup=0",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.sampler.population_size=2",
            "-q",
            "run.output_root=out",
        ],
        tmp_path,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    (front_file,) = (tmp_path / "out" / "hydra" / "sweeps").glob("*/optimization_results.yaml")
    solutions = yaml.safe_load(front_file.read_text())["solutions"]
    results = [json.loads(p.read_text()) for p in (tmp_path / "out" / "runs").glob("*/result.json")]
    points = {(-r["metrics"]["output_tokens_per_s"], r["metrics"]["batch_latency_p90_s"]) for r in results}
    # every solution is a measured point that no other measured point beats on both objectives
    for s in solutions:
        a, b = s["values"]
        assert any(a == pytest.approx(x) and b == pytest.approx(y) for x, y in points)
        assert not any(x < a and y < b for x, y in points)
    report = run_llem(["report", str(front_file.parent), "--slo-latency-s", "100"], tmp_path)
    assert report.returncode == 0, report.stdout
    # CPU: no energy, so no configuration can be named; the report says why instead of inventing one
    assert "none (no run has a measured J per output token)" in report.stdout


def test_tradeoff_plots_are_drawn_only_with_data(tmp_path):
    from llem.report.tradeoffs import tradeoff_plots

    rows = [dict(r, backend="pytorch", batch_size=int(r["run_id"][2:]) if r["run_id"].startswith("bs") else None) for r in ROWS]
    made = tradeoff_plots(rows, tmp_path, "t")
    assert set(made) == {"energy_vs_latency"} and made["energy_vs_latency"].stat().st_size > 10_000
    from PIL import Image

    desc = Image.open(made["energy_vs_latency"]).info["Description"]
    # bs1 (fastest), bs8 and bs32 (least energy) each beat the others on one axis: all on the front
    assert desc.startswith("3 runs; Pareto front: ") and set(desc.split(": ")[1].split(", ")) == {"bs1", "bs8", "bs32"}
    rows[0]["mbu_decode"], rows[1]["mbu_decode"] = 0.2, 0.4
    rows[0]["power_limit_w"], rows[1]["power_limit_w"] = 300, 700
    assert set(tradeoff_plots(rows, tmp_path, "t")) == {"energy_vs_latency", "energy_vs_mbu", "energy_vs_power_limit"}

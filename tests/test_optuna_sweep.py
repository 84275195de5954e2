"""Optimisation sweeps: the job returns run.objective (minimised) and the real Hydra Optuna sweeper
searches on it (conf/experiment/optuna_example.yaml)."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from conftest import run_llem
from llem.cli import prevalidate
from llem.errors import UserError
from llem.results.objective import objective_value

GPU_METRICS = {"energy_j_per_output_token": 0.25, "output_tokens_per_s": 400.0, "batch_latency_p90_s": 1.5}
CPU_METRICS = {"energy_j_per_output_token": None, "output_tokens_per_s": 40.0, "batch_latency_p90_s": 0.8}
FALLBACK = "energy_j_per_output_token|output_tokens_per_s"


def test_objective_takes_the_first_measured_metric_and_negates_throughput():
    assert objective_value(FALLBACK, None, GPU_METRICS) == 0.25
    assert objective_value(FALLBACK, None, CPU_METRICS) == -40.0  # no energy here: throughput, maximised
    assert objective_value("energy_j_per_output_token", None, CPU_METRICS) is None  # never 0 for "not measured"
    assert objective_value("output_tokens_per_j", None, {"output_tokens_per_j": 4.0}) == -4.0


def test_latency_limit_is_a_penalty_worse_than_any_feasible_value():
    assert objective_value(FALLBACK, 2.0, GPU_METRICS) == 0.25
    assert objective_value(FALLBACK, 1.0, GPU_METRICS) == math.inf
    assert objective_value(FALLBACK, 1.0, {**GPU_METRICS, "batch_latency_p90_s": None}) == math.inf  # unknown: not within
    assert objective_value(FALLBACK, 1.0, CPU_METRICS) == -40.0


def test_unknown_objective_is_refused_in_one_sentence():
    with pytest.raises(UserError, match=r"run.objective=energy_per_token is not valid .*choose one of"):
        prevalidate(["model=tiny", "hardware=cpu", "tracking=none", "run.objective=energy_per_token"])
    with pytest.raises(UserError, match="run.max_latency_s"):
        prevalidate(["model=tiny", "hardware=cpu", "tracking=none", "run.max_latency_s=-1"])


@pytest.mark.slow
@pytest.mark.needs("hydra_plugins.hydra_optuna_sweeper", "hydra-optuna-sweeper", "pip install hydra-optuna-sweeper==1.3.0")
def test_optuna_sweeper_minimises_the_returned_objective(tmp_path):
    proc = run_llem(
        [
            "--multirun",
            "+experiment=optuna_example",
            "model=tiny",
            "hardware=cpu",
            "tracking=none",
            "workload.num_prompts=2",
            "workload.output_tokens=4",
            "run.repeats=1",
            "run.warmup=0",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=2",
            "-q",
            "run.output_root=out",
        ],
        tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    (best_file,) = (tmp_path / "out" / "hydra" / "sweeps").glob("*/optimization_results.yaml")
    best = yaml.safe_load(best_file.read_text())
    results = [json.loads(p.read_text()) for p in (tmp_path / "out" / "runs").glob("*/result.json")]
    assert results and all(r["metrics"]["energy_j_per_output_token"] is None for r in results)  # CPU: fallback used
    # Optuna's best is the fastest measured trial, seen through the negated throughput the jobs returned.
    assert best["best_value"] == pytest.approx(-max(r["metrics"]["output_tokens_per_s"] for r in results))
    (winner,) = [r for r in results if r["metrics"]["output_tokens_per_s"] == -best["best_value"]]
    assert winner["spec"]["workload"]["batch_size"] == best["best_params"]["workload.batch_size"]
    assert winner["spec"]["backend"]["cache_implementation"] == best["best_params"]["backend.cache_implementation"]
    # the sweep's end names the same trial and whether its comparison with the others is like for like
    said = [
        line
        for line in proc.stdout.splitlines()
        if line.startswith(f"llem: the sweeper's best trial by run.objective ({winner['identity']['run_id']}): ")
    ]
    others = len(results) - 1  # trials Optuna asked for again found the same result: one run each
    assert len(said) == (1 if others else 0), proc.stdout[-3000:]
    assert not others or f"the {others} run{'s' if others > 1 else ''} it was chosen over" in said[0]


@pytest.mark.slow
@pytest.mark.needs("hydra_plugins.hydra_optuna_sweeper", "hydra-optuna-sweeper", "pip install hydra-optuna-sweeper==1.3.0")
def test_optuna_trial_that_finds_a_complete_result_is_counted_skipped(tmp_path):
    """Optuna may ask for a point again: the later trial finds the result the first one wrote during
    this sweep, skips it, returns its objective, and the summary counts it as skipped, not measured."""
    proc = run_llem(
        [
            "--multirun",
            "+experiment=optuna_example",
            "model=tiny",
            "hardware=cpu",
            "tracking=none",
            "energy=none",
            "workload.num_prompts=2",
            "workload.output_tokens=4",
            "run.repeats=1",
            "run.warmup=0",
            "workload.batch_size=1",
            "backend.cache_implementation=dynamic",  # one point
            "hydra.sweeper.n_trials=3",
            "-q",
            "run.output_root=out",
        ],
        tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "llem sweep summary: 1 measured, 2 skipped (complete result already on disk), 0 failed" in proc.stdout
    (sweep,) = (tmp_path / "out" / "hydra" / "sweeps").iterdir()
    summary = json.loads((sweep / "llem_sweep_summary.json").read_text())
    assert [(j["job"], j["status"]) for j in summary["jobs"]] == [("0", "measured"), ("1", "skipped"), ("2", "skipped")]
    (result,) = [json.loads(p.read_text()) for p in (tmp_path / "out" / "runs").glob("*/result.json")]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(-result["metrics"]["output_tokens_per_s"])  # skipped trials return it too

"""Energy as the product itself writes it, through MLflow and `llem report`.

One real llem run on CPU (model=tiny) metered through the fake NVML replaying a 300 W GPU whose
counter steps every 100 ms, tracked to a real `mlflow server` on loopback. Its run dir and its
MLflow runs then feed MLflow's REST API and `llem report`: every energy number they show must be
the one in result.json, and that one must match the replayed power (to under one counter step)."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image

from conftest import llem_env, results_under, run_llem
from mlflow_server import metrics, tags  # the mlflow_server fixture: tests/conftest.py
from replay_traces import POWER_W, STEP_J, constant_power_trace

pytestmark = pytest.mark.slow
EXPERIMENT = "replayed-energy"


@pytest.fixture(scope="module")
def tracked_run(mlflow_server, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("replayed-energy")
    constant_power_trace(cwd / "trace.csv")
    out = run_llem(
        [
            "model=tiny",
            "hardware=cpu",
            "workload.num_prompts=4",
            "workload.batch_size=4",
            "workload.output_tokens=16",
            "run.repeats=2",
            "run.warmup=1",
            "energy=auto",
            "energy.baseline_s=0.5",
            "energy.sample_interval_s=0.05",
            "energy.grid_intensity_g_per_kwh=400",
            "energy.min_window_updates=1000",  # every window is flagged short: the flag must travel too
            f"tracking.uri={mlflow_server.uri}",
            f"tracking.experiment={EXPERIMENT}",
            "run.output_root=out",
        ],
        cwd,
        env=llem_env(LLEM_FAKE_NVML_TRACE=cwd / "trace.csv", LLEM_POWERCAP_ROOT=cwd / "no-powercap"),
    )
    assert out.returncode == 0, out.stdout[-3000:]
    [result] = results_under(cwd / "out")
    # The product's own numbers, checked against the replayed physics before anything reads them.
    for w in result["windows"]:
        assert abs(w["energy_j"] - POWER_W * w["energy"]["duration_s"]) < STEP_J + 1e-6
    assert result["metrics"]["energy_reason"] is None and result["timeseries"]["peak_power_w"] == POWER_W
    return cwd, result


def _csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_mlflow_holds_the_measured_joules_per_window_and_the_headline(tracked_run, mlflow_server):
    _, result = tracked_run
    [run] = [r for r in mlflow_server.runs(EXPERIMENT) if tags(r).get("llem.role") == "job"]
    m, t = metrics(run), tags(run)
    assert "llem.energy" not in t  # measured: no "not measured" tag
    assert t["llem.validity_flags"] == " | ".join(result["validity"]["flags"]) and "short_window" in t["llem.validity_flags"]
    for key in ("energy_j_per_output_token", "energy_j", "avg_power_w", "co2e_g", "dynamic_energy_j_per_output_token"):
        assert m[key] == pytest.approx(result["metrics"][key]), key
    assert m["energy_j_per_output_token.ci95_low"] < m["energy_j_per_output_token"] < m["energy_j_per_output_token.ci95_high"]
    assert m["timeseries.peak_power_w"] == POWER_W and m["timeseries.mean_power_w"] == POWER_W
    # co2e from the joules llem measured at 400 g/kWh (independent arithmetic on the product's joules)
    assert m["co2e_g"] == pytest.approx(result["metrics"]["energy_j"] / 3.6e6 * 400)
    hist = mlflow_server.get("metrics/get-history", run_id=run["info"]["run_id"], metric_key="window.energy_j")
    steps = sorted((h["step"], h["value"]) for h in hist["metrics"])
    assert steps == [(w["index"], pytest.approx(w["energy_j"])) for w in result["windows"]]
    assert "timeseries.csv" in mlflow_server.artifacts(run["info"]["run_id"])


def test_report_from_the_run_dir_and_from_mlflow_shows_the_same_joules(tracked_run, mlflow_server):
    cwd, result = tracked_run
    out = run_llem(["report", "out", "--out", "rep"], cwd=cwd, timeout=300)
    assert out.returncode == 0, out.stdout
    [row] = _csv(cwd / "rep" / "report.csv")
    assert row["energy_meter"] == "nvml" and row["energy_reason"] == ""
    assert float(row["energy_j_per_output_token"]) == pytest.approx(result["metrics"]["energy_j_per_output_token"])
    assert float(row["energy_j"]) == pytest.approx(result["metrics"]["energy_j"])
    shortest = min(w["energy"]["duration_s"] for w in result["windows"])
    assert abs(float(row["avg_power_w"]) - POWER_W) < STEP_J / shortest  # the replayed 300 W
    assert float(row["peak_power_w"]) == POWER_W
    assert float(row["energy_j_per_output_token_ci95_low"]) <= float(row["energy_j_per_output_token"])
    assert row["validity_flags"] == " | ".join(result["validity"]["flags"]) and "short_window" in row["validity_flags"]
    with Image.open(cwd / "rep" / "energy_vs_throughput.png") as im:
        assert im.text["Description"] == f"1 runs; Pareto front: {row['run_id']}"
    assert (cwd / "rep" / f"power_{row['config_hash']}.png").is_file()  # its time series, plotted

    from_mlflow = run_llem(
        ["report", f"mlflow:{EXPERIMENT}", "--uri", mlflow_server.uri, "--out", "rep-mlflow", "--no-plots"], cwd=cwd, timeout=300
    )
    assert from_mlflow.returncode == 0, from_mlflow.stdout
    [ml_row] = _csv(cwd / "rep-mlflow" / "report.csv")
    for key in (
        "run_id",
        "energy_j_per_output_token",
        "energy_j",
        "avg_power_w",
        "peak_power_w",
        "energy_meter",
        "validity_flags",
    ):
        assert ml_row[key] == row[key], key
    assert json.loads((cwd / "out" / "runs" / row["run_id"] / "tracking.json").read_text())["synced"] is True

"""`llem report`: table, CSV and PNGs. The energy plots are tested on result files built from
realistic H100 values (see realistic.py: this machine measures no energy); the table and CSV on
real tiny runs measured here, read from a sweep dir, an output root and the MLflow store."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_llem
from llem.report.plots import pareto_front
from realistic import POINTS, write_point_runs, write_trace_run


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _description(png: Path) -> str:
    with Image.open(png) as im:
        assert im.size[0] > 800 and im.size[1] > 500
        return im.text.get("Description", "")


def test_pareto_front_keeps_only_undominated_points():
    pts = [(1, 5), (2, 3), (3, 4), (4, 1), (0.5, 0.5), (4, 2)]  # (tokens/s, J/token)
    assert pareto_front(pts) == [4, 3]
    assert pareto_front([(1, 1)]) == [0]


def test_energy_plots_from_realistic_results(tmp_path):
    root = tmp_path / "outputs"
    write_point_runs(root)
    trace_run = write_trace_run(root)
    out = run_llem(["report", str(root), "--out", str(tmp_path / "rep")], cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout
    rows = {r["run_id"]: r for r in _csv(tmp_path / "rep" / "report.csv")}
    assert len(rows) == len(POINTS) + 1
    (st64,) = [r for k, r in rows.items() if k.startswith("pytorch_static_bs64-")]
    assert float(st64["energy_j_per_output_token"]) == pytest.approx(0.036, rel=0.01)
    assert float(st64["energy_j_per_output_token_ci95_low"]) < 0.036 < float(st64["energy_j_per_output_token_ci95_high"])
    trace = rows[trace_run.name]
    assert float(trace["energy_j_per_output_token"]) == pytest.approx(3.2, rel=0.1)  # the published bs1 figure
    assert float(trace["avg_power_w"]) == pytest.approx(140, rel=0.1) and float(trace["peak_power_w"]) > 600
    desc = _description(tmp_path / "rep" / "energy_vs_throughput.png")
    assert desc == f"{len(rows)} runs; Pareto front: {st64['run_id']}"
    desc = _description(tmp_path / "rep" / "energy_vs_batch_size.png")
    assert "3 series" in desc and "cache_implementation=static" in desc and "llamacpp" in desc
    # only the run with a time series gets a power plot
    assert [p.name for p in (tmp_path / "rep").glob("power_*.png")] == [f"power_{trace['config_hash']}.png"]


@pytest.fixture(scope="module")
def cpu_sweep(tmp_path_factory):
    """A real two-point sweep of the tiny model, tracked in the default SQLite store."""
    cwd = tmp_path_factory.mktemp("cpu-sweep")
    out = run_llem(
        [
            "--multirun",
            "model=tiny",
            "hardware=cpu",
            "run.repeats=2",
            "run.warmup=0",
            "workload.num_prompts=4",
            "workload.output_tokens=8",
            "workload.batch_size=2,4",
            "tracking.experiment=report-test",
        ],
        cwd=cwd,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    (sweep_dir,) = (cwd / "outputs" / "hydra" / "sweeps").iterdir()
    return cwd, sweep_dir, out.stdout


@pytest.mark.slow
def test_sweep_shows_job_k_of_n_and_the_time_left(cpu_sweep):
    stdout = cpu_sweep[2]
    assert re.search(r"llem sweep job 1 of 2 · \d+s elapsed · time left known after the first job", stdout), stdout[-3000:]
    assert re.search(r"llem sweep job 2 of 2 · \d+s elapsed · ~\d+s left", stdout), stdout[-3000:]
    # a sqlite store: the sweep's end says how to serve the UI and links the runs
    assert "llem: MLflow serve the UI with: mlflow ui --backend-store-uri sqlite:///" in stdout
    assert re.search(r"llem: MLflow compare the sweep's 2 runs: http://127\.0\.0\.1:5000/#/compare-runs\?runs=", stdout)


@pytest.mark.slow
def test_runs_carry_the_hash_of_their_prompt_token_ids(cpu_sweep):
    import hashlib
    import struct
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from llem.models.builtin import materialize
    from llem.workload.prompts import build_requests

    cwd, _, _ = cpu_sweep
    results = [json.loads(p.read_text()) for p in sorted((cwd / "outputs" / "runs").glob("*/result.json"))]
    hashes = {r["requests"]["prompt_token_ids_sha256"] for r in results}
    assert len(results) == 2 and len(hashes) == 1  # bs2 and bs4 send the same prompts
    # recomputed here from the tiny model's tokenizer, in the documented encoding: per request its
    # number of ids, then the ids, all as little-endian uint32
    w = results[0]["spec"]["workload"]
    tok = AutoTokenizer.from_pretrained(str(materialize("tiny")))
    requests = build_requests(SimpleNamespace(**w), lambda t: tok(t)["input_ids"], len(tok))
    blob = b"".join(struct.pack(f"<{len(r.input_ids) + 1}I", len(r.input_ids), *r.input_ids) for r in requests)
    assert hashes.pop() == hashlib.sha256(blob).hexdigest()


@pytest.mark.slow
def test_table_and_csv_from_real_cpu_runs(cpu_sweep):
    cwd, sweep_dir, _ = cpu_sweep
    out = run_llem(["report", str(sweep_dir)], cwd=cwd, timeout=300)
    assert out.returncode == 0, out.stdout
    assert "not measured" in out.stdout and "tok/s" in out.stdout
    rows = _csv(sweep_dir / "report" / "report.csv")
    assert sorted(int(r["batch_size"]) for r in rows) == [2, 4]
    for r in rows:
        result = json.loads((Path(r["run_dir"]) / "result.json").read_text())
        assert float(r["output_tokens_per_s"]) == pytest.approx(result["metrics"]["output_tokens_per_s"])
        assert r["energy_j_per_output_token"] == "" and r["avg_power_w"] == ""  # missing, never 0
        assert r["energy_reason"] and r["status"] == "ok"
    assert _description(sweep_dir / "report" / "energy_vs_throughput.png").startswith("energy not measured: ")
    assert _description(sweep_dir / "report" / "energy_vs_batch_size.png").startswith("energy not measured: ")
    assert _description(sweep_dir / "report" / "throughput_vs_batch_size.png") == "2 runs in 1 series: pytorch"
    html = (sweep_dir / "report" / "report.html").read_text()
    assert all(r["run_id"] in html for r in rows) and "environment 1 (2 runs)" in html  # one machine, both runs

    from_root = run_llem(["report", "outputs", "--no-plots"], cwd=cwd, timeout=300)
    assert from_root.returncode == 0
    assert sorted(r["run_id"] for r in _csv(cwd / "outputs" / "report" / "report.csv")) == sorted(r["run_id"] for r in rows)

    from_mlflow = run_llem(["report", "mlflow:report-test", "--no-plots"], cwd=cwd, timeout=300)
    assert from_mlflow.returncode == 0, from_mlflow.stdout
    ml_rows = _csv(cwd / "llem-report-report-test" / "report.csv")
    assert sorted((r["run_id"], r["output_tokens_per_s"]) for r in ml_rows) == sorted(
        (r["run_id"], r["output_tokens_per_s"]) for r in rows
    )


def test_bad_source_is_one_sentence(tmp_path):
    out = run_llem(["report", str(tmp_path / "nope")], cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    assert out.stdout.startswith(f"llem: error: {tmp_path / 'nope'} is not a folder") and "Traceback" not in out.stdout

"""Against a real `mlflow server` on loopback: a sweep lands as one parent and one child run per
job with curated params, metrics and artifacts; with the server down nothing is lost and
`llem sync` catches up without duplicates. Everything is read back through MLflow's REST API."""

from __future__ import annotations

import json

import pytest

from conftest import run_llem
from mlflow_server import metrics, params, tags  # the mlflow_server fixture: tests/conftest.py

pytestmark = pytest.mark.slow

TINY = ["model=tiny", "hardware=cpu", "run.repeats=2", "run.warmup=0", "workload.num_prompts=4", "workload.output_tokens=8"]
CURATED = {
    "backend",
    "engine",
    "engine_version",
    "model",
    "dtype",
    "batch_size",
    "input_tokens",
    "output_tokens",
    "hardware",
    "device",
    "energy_meter",
    "config_hash",
    "repeats",
}


def _split(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    parents = [r for r in runs if tags(r).get("llem.role") == "sweep"]
    children = [r for r in runs if tags(r).get("llem.role") == "job"]
    return parents, children


def test_sweep_is_one_parent_with_a_child_per_job(mlflow_server, workdir):
    out = run_llem(
        [
            "--multirun",
            *TINY,
            "workload.batch_size=1,2,4",
            f"tracking.uri={mlflow_server.uri}",
            "tracking.experiment=sweep",
            "run.output_root=out",
        ],
        cwd=workdir,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert "llem sweep summary: 3 measured, 0 skipped" in out.stdout

    parents, children = _split(mlflow_server.runs("sweep"))
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent["info"]["status"] == "FINISHED"
    assert metrics(parent)["jobs_measured"] == 3.0
    assert {tags(c)["mlflow.parentRunId"] for c in children} == {parent["info"]["run_id"]}
    assert sorted(int(params(c)["batch_size"]) for c in children) == [1, 2, 4]

    for child in children:
        p, m, t = params(child), metrics(child), tags(child)
        assert CURATED <= set(p), CURATED - set(p)
        run_dir = workdir / "out" / "runs" / t["llem.run_id"]
        result = json.loads((run_dir / "result.json").read_text())
        assert p["config_hash"] == t["llem.config_hash"] == result["identity"]["config_hash"]
        assert p["engine"] == "transformers" and p["device"] == "cpu" and p["energy_meter"] == result["energy"]["meter"]["meter"]
        assert "gpu_name" not in p  # no GPU here: left out, not logged as a placeholder
        assert t["llem.version"] and t["llem.git_revision"] == str(result["identity"]["llem_git_revision"])
        assert m["output_tokens_per_s"] == pytest.approx(result["metrics"]["output_tokens_per_s"])
        assert m["batch_latency_p50_s"] > 0
        # energy is not measurable on this machine: no metric at all (never a 0), and a tag says why
        assert not any(k.startswith(("energy", "window.energy", "avg_power")) for k in m), sorted(m)
        assert t.get("llem.energy", "").startswith("not measured"), (t, result["metrics"].get("energy_reason"))
        hist = mlflow_server.get("metrics/get-history", run_id=child["info"]["run_id"], metric_key="window.output_tokens_per_s")
        steps = sorted((h["step"], h["value"]) for h in hist["metrics"])
        assert [s for s, _ in steps] == [0, 1]  # each repeat is a step
        assert [v for _, v in steps] == pytest.approx([w["output_tokens_per_s"] for w in result["windows"]])
        assert {"config.yaml", "result.json", "environment.json"} <= set(mlflow_server.artifacts(child["info"]["run_id"]))
        assert json.loads((run_dir / "tracking.json").read_text())["synced"] is True


def test_server_down_keeps_results_and_sync_catches_up_once(mlflow_server, workdir, request):
    mlflow_server.stop()
    # the session's server: back up for the next test even if this one fails before restarting it
    request.addfinalizer(lambda: mlflow_server.proc.poll() is None or mlflow_server.start())
    out = run_llem(
        [
            "--multirun",
            *TINY,
            "workload.batch_size=1,2",
            f"tracking.uri={mlflow_server.uri}",
            "tracking.experiment=offline",
            "run.output_root=out",
        ],
        cwd=workdir,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert "not logged to MLflow" in out.stdout and "llem sync out" in out.stdout
    assert "llem sweep summary: 2 measured" in out.stdout
    run_dirs = sorted((workdir / "out" / "runs").iterdir())
    assert len(run_dirs) == 2
    for d in run_dirs:
        assert (d / "result.json").is_file()
        marker = json.loads((d / "tracking.json").read_text())
        assert marker["synced"] is False and "no MLflow server answered" in marker["error"]

    mlflow_server.start()
    out = run_llem(["sync", "out"], cwd=workdir)
    assert out.returncode == 0, out.stdout
    assert "2 uploaded, 0 already in MLflow, 0 failed" in out.stdout
    parents, children = _split(mlflow_server.runs("offline"))
    assert len(parents) == 1 and len(children) == 2  # the sweep's parent is created at sync time
    assert {tags(c)["mlflow.parentRunId"] for c in children} == {parents[0]["info"]["run_id"]}
    assert sorted(int(params(c)["batch_size"]) for c in children) == [1, 2]

    out = run_llem(["sync", "out"], cwd=workdir)  # nothing left to do
    assert "0 uploaded, 0 already in MLflow, 0 failed" in out.stdout
    # A run that reached MLflow but whose marker was lost (crash before it was written): found by tag.
    marker_path = run_dirs[0] / "tracking.json"
    marker = json.loads(marker_path.read_text())
    marker_path.write_text(json.dumps(dict(marker, synced=False, mlflow_run_id=None)))
    out = run_llem(["sync", "out"], cwd=workdir)
    assert "0 uploaded, 1 already in MLflow, 0 failed" in out.stdout, out.stdout
    parents, children = _split(mlflow_server.runs("offline"))
    assert len(parents) == 1 and len(children) == 2

"""Jobs that run in other processes find their sweep's parent run: through the environment
(submitit's local launcher, one process per job) and through the sweep file alone (what a job in
a container sees when only LLEM_SWEEP_DIR is passed in). The store is the default SQLite file."""

from __future__ import annotations

import json

import pytest

from conftest import llem_env, run_llem

pytestmark = pytest.mark.slow

TINY = ["model=tiny", "hardware=cpu", "run.repeats=2", "run.warmup=0", "workload.num_prompts=4", "workload.output_tokens=8"]


def _runs(cwd):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name("llem")
    return list(client.search_runs([exp.experiment_id]))


def test_jobs_in_other_processes_nest_under_the_sweep(workdir):
    out = run_llem(["--multirun", "hydra/launcher=local", *TINY, "workload.batch_size=1,2"], cwd=workdir)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "llem sweep summary: 2 measured, 0 skipped" in out.stdout
    (sweep_dir,) = (workdir / "outputs" / "hydra" / "sweeps").iterdir()
    sweep = json.loads((sweep_dir / "llem_sweep.json").read_text())
    parent = sweep["mlflow"]["parent_run_id"]
    runs = _runs(workdir)
    jobs = [r for r in runs if r.data.tags.get("llem.role") == "job"]
    assert [r.info.run_id for r in runs if r.data.tags.get("llem.role") == "sweep"] == [parent]
    assert sorted(r.data.params["batch_size"] for r in jobs) == ["1", "2"]
    assert {r.data.tags["mlflow.parentRunId"] for r in jobs} == {parent}

    # A job started elsewhere with only the sweep dir passed in (no parent id in its environment).
    env = {k: v for k, v in llem_env().items() if not k.startswith("LLEM_")}
    env["LLEM_SWEEP_DIR"] = str(sweep_dir)
    out = run_llem([*TINY, "workload.batch_size=4"], cwd=workdir, env=env)
    assert out.returncode == 0, out.stdout[-3000:]
    jobs = [r for r in _runs(workdir) if r.data.tags.get("llem.role") == "job"]
    assert sorted(r.data.params["batch_size"] for r in jobs) == ["1", "2", "4"]
    assert {r.data.tags["mlflow.parentRunId"] for r in jobs} == {parent}
    assert {r.data.tags["llem.sweep_id"] for r in jobs} == {sweep["sweep_id"]}


def test_deferred_jobs_are_uploaded_when_the_sweep_ends(workdir):
    """LLEM_TRACKING_DEFER=1 (set by launchers whose jobs cannot reach the store, e.g. containers
    without network): jobs only mark their runs unsynced; the sweep's end uploads them, nested."""
    out = run_llem(["--multirun", *TINY, "workload.batch_size=1,2"], cwd=workdir, env=llem_env(LLEM_TRACKING_DEFER=1))
    assert out.returncode == 0, out.stdout[-3000:]
    assert "MLflow logging deferred" in out.stdout
    assert "uploaded 2 run(s) to MLflow that their jobs could not log" in out.stdout
    runs = _runs(workdir)
    (parent,) = [r for r in runs if r.data.tags.get("llem.role") == "sweep"]
    jobs = [r for r in runs if r.data.tags.get("llem.role") == "job"]
    assert len(jobs) == 2 and {r.data.tags["mlflow.parentRunId"] for r in jobs} == {parent.info.run_id}
    for marker in (workdir / "outputs" / "runs").glob("*/tracking.json"):
        assert json.loads(marker.read_text())["synced"] is True

"""hydra/launcher=local: a real two-job sweep, each job in its own submitit process; jobs on the
one CPU never overlap in time."""

from __future__ import annotations

from conftest import run_llem  # tests/conftest.py
from launcher_helpers import SWEEP, TINY, overlapping, results, spans


def test_local_sweep_runs_jobs_one_at_a_time(tmp_path):
    proc = run_llem(["--multirun", "hydra/launcher=local", *TINY, *SWEEP, f"run.output_root={tmp_path}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "llem sweep summary: 2 measured, 0 skipped (complete result already on disk), 0 failed" in proc.stdout
    done = results(tmp_path)
    assert sorted(r["spec"]["workload"]["batch_size"] for r in done) == [1, 2]
    assert all(r["status"] == "ok" and len(r["windows"]) == 2 for r in done)
    first, second = done
    # Measured windows of different jobs never intersect; nor do the jobs themselves.
    assert overlapping(spans(first), spans(second)) == []
    jobs = sorted((r["identity"]["started_unix_s"], r["identity"]["finished_unix_s"]) for r in done)
    assert jobs[0][1] <= jobs[1][0], jobs
    # Each job ran as its own submitit job, with its own log.
    logs = list((tmp_path / "hydra").rglob(".submitit/*/*_log.out"))
    assert len(logs) == 2, logs

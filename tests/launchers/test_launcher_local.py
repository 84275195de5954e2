"""hydra/launcher=local: a real sweep of two engine configurations x two batch sizes. Each engine
configuration runs as one submitit job (its own process), loading the engine once for both of its
points; jobs on the one CPU never overlap in time."""

from __future__ import annotations

from conftest import run_llem  # tests/conftest.py
from launcher_helpers import SWEEP, TINY, overlapping, results, spans


def test_local_sweep_runs_jobs_one_at_a_time_one_process_per_engine(tmp_path):
    proc = run_llem(
        ["--multirun", "hydra/launcher=local", *TINY, *SWEEP, "backend.dtype=float32,bfloat16", f"run.output_root={tmp_path}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "llem sweep summary: 4 measured, 0 skipped (complete result already on disk), 0 failed" in proc.stdout
    done = results(tmp_path)
    assert sorted((r["spec"]["backend"]["dtype"], r["spec"]["workload"]["batch_size"]) for r in done) == [
        ("bfloat16", 1),
        ("bfloat16", 2),
        ("float32", 1),
        ("float32", 2),
    ]
    assert all(r["status"] == "ok" and len(r["windows"]) == 2 for r in done)
    # Measured windows of different jobs never intersect; nor do the jobs themselves.
    for i, a in enumerate(done):
        for b in done[i + 1 :]:
            assert overlapping(spans(a), spans(b)) == []
    jobs = sorted((r["identity"]["started_unix_s"], r["identity"]["finished_unix_s"]) for r in done)
    assert all(a[1] <= b[0] for a, b in zip(jobs, jobs[1:])), jobs
    # One engine load per dtype: the batch-size-2 point measured on the engine the first point loaded.
    for dtype in ("float32", "bfloat16"):
        first, second = sorted(
            (r for r in done if r["spec"]["backend"]["dtype"] == dtype), key=lambda r: r["identity"]["started_unix_s"]
        )
        assert first["engine_load"]["reused"] is False and first["load_s"] > 0
        assert second["engine_load"] == dict(first["engine_load"], reused=True, job_on_engine=2)
        assert second["load_s"] is None  # it loaded nothing itself; the load it used is in engine_load
    # Each engine configuration ran as its own submitit job, with its own log.
    logs = list((tmp_path / "hydra").rglob(".submitit/*/*_log.out"))
    assert len(logs) == 2, logs

"""hydra/launcher=slurm on the CI's real one-node Slurm (.ci/services.d/slurm.sh): a two-job
multirun (one engine configuration: one Slurm job, one engine load), the same without engine reuse
(a Slurm job per point), their results and each job's Slurm logs. Skipped when no cluster answers sinfo."""

from __future__ import annotations

from conftest import llem_env, run_llem  # tests/conftest.py
from launcher_helpers import SWEEP, TINY, overlapping, results, slurm, spans  # noqa: F401  (fixture)


def test_slurm_sweep_runs_and_logs_each_job(tmp_path, slurm):
    env = llem_env(**{k: v for k, v in slurm.items() if k.startswith("SLURM")})
    proc = run_llem(
        ["--multirun", "hydra/launcher=slurm", *TINY, *SWEEP, f"run.output_root={tmp_path}"], cwd=tmp_path, env=env, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "llem sweep summary: 2 measured, 0 skipped (complete result already on disk), 0 failed" in proc.stdout
    done = results(tmp_path)
    assert sorted(r["spec"]["workload"]["batch_size"] for r in done) == [1, 2]
    assert all(r["status"] == "ok" and r["identity"]["device"] == "cpu" for r in done)
    assert overlapping(spans(done[0]), spans(done[1])) == []  # array_parallelism=1
    # Both batch sizes are one engine configuration: one Slurm job, one engine load.
    first, second = sorted(done, key=lambda r: r["identity"]["started_unix_s"])
    assert first["engine_load"]["reused"] is False and second["engine_load"]["reused"] is True
    assert second["engine_load"]["loaded_for"] == first["identity"]["run_id"]


def test_slurm_sweep_without_engine_reuse_runs_and_logs_each_job(tmp_path, slurm):
    env = llem_env(**{k: v for k, v in slurm.items() if k.startswith("SLURM")})
    proc = run_llem(
        ["--multirun", "hydra/launcher=slurm", *TINY, *SWEEP, "run.reuse_engine=false", f"run.output_root={tmp_path}"],
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    done = results(tmp_path)
    assert [r["engine_load"]["reused"] for r in done] == [False, False]
    # Per-job Slurm logs: <sweep>/.submitit/<jobid>_<task>/<jobid>_<task>_0_log.{out,err}
    errs = sorted((tmp_path / "hydra").rglob(".submitit/*_*/*_0_log.err"))
    outs = sorted((tmp_path / "hydra").rglob(".submitit/*_*/*_0_log.out"))
    assert len(errs) == 2 and len(outs) == 2, (errs, outs)
    for out in outs:  # submitit's own log lines go to stdout, with Slurm's job id
        text = out.read_text()
        task = out.name.removesuffix("_0_log.out")  # <jobid>_<task>
        assert f"job_id={task}" in text and "Job completed successfully" in text, text[-2000:]
    scripts = list((tmp_path / "hydra").rglob(".submitit/*/*_submission.sh"))
    assert scripts and "#SBATCH" in scripts[0].read_text()


def test_a_submission_sbatch_refuses_is_one_sentence_before_anything_runs(tmp_path, slurm):
    """The real sbatch without a cluster configuration it can read (a login node's SLURM_CONF wrong or
    missing): llem's Slurm launcher printed submitit's traceback (exit 1); now one sentence naming
    sbatch's own reason, exit 2, and no job ran."""
    env = llem_env(**{k: v for k, v in slurm.items() if k.startswith("SLURM")})
    bad = tmp_path / "slurm.conf"
    bad.write_text("NotAKey=1\n")  # read at once and refused (a missing file costs sbatch a minute of retries)
    env["SLURM_CONF"] = str(bad)
    proc = run_llem(
        ["--multirun", "hydra/launcher=slurm", *TINY, *SWEEP, f"run.output_root={tmp_path / 'out'}"],
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-4000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("llem: error: the slurm launcher could not submit the sweep's first job (sbatch"), proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout and results(tmp_path / "out") == []

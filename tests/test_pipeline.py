"""The whole pipeline for real on CPU: tiny and SmolLM2 models, resume, sweeps, failure records."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from conftest import results_under, run_llem

TINY = [
    "model=tiny",
    "hardware=cpu",
    "workload.num_prompts=4",
    "workload.batch_size=2",
    "workload.output_tokens=8",
    "run.repeats=2",
    "tracking=none",
]


def _walk(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, obj


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One measured TINY run for the module: its working dir and llem's output. Tests that change
    what is on disk work on a copy."""
    workdir = tmp_path_factory.mktemp("tiny-run")
    return workdir, run_llem(TINY, workdir)


def test_tiny_run_writes_a_complete_run_directory(tiny_run):
    workdir, out = tiny_run
    assert out.returncode == 0, out.stdout
    run_dirs = list((workdir / "outputs" / "runs").iterdir())
    assert len(run_dirs) == 1
    rd = run_dirs[0]
    assert rd.name.startswith("pytorch_tiny_bs2_in128_out8-")
    assert {"result.json", "config.yaml", "environment.json"} <= {p.name for p in rd.iterdir()}
    r = json.loads((rd / "result.json").read_text())
    assert r["status"] == "ok" and r["schema_version"] == 2
    assert rd.name == r["identity"]["run_id"] and rd.name.endswith(r["identity"]["config_hash"])
    assert r["identity"]["engine"] == "transformers" and r["identity"]["engine_version"]
    assert len(r["windows"]) == 2
    for w in r["windows"]:
        assert w["requests"] == 4
        assert w["output_tokens"] == 4 * 8  # fixed output length, counted from the engine's ids
        assert w["input_tokens"] == sum(r["requests"]["input_tokens"])
        assert len(w["batch_latency_s"]) == 2 and all(x > 0 for x in w["batch_latency_s"])
        assert w["duration_s"] > 0 and w["output_tokens_per_s"] == pytest.approx(32 / w["duration_s"])
    st = r["statistics"]["output_tokens_per_s"]
    assert st["n"] == 2 and st["ci95_low"] <= st["mean"] <= st["ci95_high"]
    assert r["metrics"]["output_tokens_per_s"] == pytest.approx(st["mean"])
    # No sensor here: energy is null with a reason, never zero.
    assert r["metrics"]["energy_j_per_output_token"] is None and r["metrics"]["energy_reason"]
    zeros = [
        p for p, v in _walk(r) if ("energy" in p.lower() or p.lower().endswith("_j")) and not p.startswith(".spec.") and v == 0
    ]  # False == 0 too: no boolean flags either
    assert not zeros, zeros
    assert r["memory"]["peak_rss_mib"] > 50
    assert r["engine"]["effective_settings"]["padding_side"] == "left"
    cfg = yaml.safe_load((rd / "config.yaml").read_text())
    assert cfg["workload"]["batch_size"] == 2 and cfg["model"]["name"] == "tiny"
    env = json.loads((rd / "environment.json").read_text())
    assert env["python"] and env["cpu_count"] >= 1 and "torch" in env["packages"]
    assert "windows" in out.stdout and "not measured" in out.stdout  # the summary table


def test_rerun_skips_a_complete_result_and_force_remeasures(tiny_run, workdir):
    measured, out = tiny_run  # the same config (-q is bookkeeping): its run directory, copied
    assert out.returncode == 0, out.stdout
    shutil.copytree(measured / "outputs", workdir / "outputs")
    first = results_under(workdir)[0]
    again = run_llem(TINY, workdir)
    assert again.returncode == 0 and "skipping" in again.stdout
    assert results_under(workdir)[0]["identity"]["started_unix_s"] == first["identity"]["started_unix_s"]
    forced = run_llem(TINY + ["run.force=true", "-q"], workdir)
    assert forced.returncode == 0
    assert results_under(workdir)[0]["identity"]["started_unix_s"] > first["identity"]["started_unix_s"]


def test_synthetic_workload_has_exact_input_lengths(workdir):
    out = run_llem(
        TINY
        + [
            "workload=synthetic",
            "workload.num_prompts=3",
            "workload.input_tokens=17",
            "workload.output_tokens=5",
            "workload.batch_size=3",
            "run.repeats=1",
            "-q",
        ],
        workdir,
    )
    assert out.returncode == 0, out.stdout
    r = results_under(workdir)[0]
    assert r["requests"]["input_tokens"] == [17, 17, 17]
    assert r["windows"][0]["output_tokens"] == 15


def test_two_point_multirun_and_a_failing_job_does_not_stop_the_sweep(workdir):
    empty_model = workdir / "not-a-model"
    empty_model.mkdir()
    out = run_llem(["--multirun", *TINY, "run.repeats=1", "workload.batch_size=1,4"], workdir)
    assert out.returncode == 0, out.stdout
    rs = results_under(workdir)
    assert sorted(r["spec"]["workload"]["batch_size"] for r in rs) == [1, 4]
    assert len({r["identity"]["config_hash"] for r in rs}) == 2
    assert "llem sweep summary: 2 measured" in out.stdout

    # A sweep whose second point cannot load its model: the first still lands, the second leaves a
    # failure record, and the sweep ends with exit code 1.
    from llem.models.builtin import TINY_VERSION
    from llem.paths import cache_dir

    tiny_dir = cache_dir() / "models" / TINY_VERSION  # built by the runs above
    assert (tiny_dir / "config.json").is_file()
    out = run_llem(
        [
            "--multirun",
            *TINY,
            "run.repeats=1",
            "model.source=path",
            f"model.id={tiny_dir},{empty_model}",
            "run.output_root=sweep2",
        ],
        workdir,
    )
    assert out.returncode == 1, out.stdout
    ok = results_under(workdir / "sweep2")
    failed = list((workdir / "sweep2" / "runs").glob("*/failure.json"))
    assert len(ok) == 1 and ok[0]["spec"]["model"]["id"] == str(tiny_dir)
    assert len(failed) == 1
    rec = json.loads(failed[0].read_text())
    assert rec["status"] == "failed" and rec["error"]["message"] and rec["spec"]["model"]["id"] == str(empty_model)
    assert (failed[0].parent / "traceback.txt").is_file()
    assert "1 measured, 0 skipped (complete result already on disk), 1 failed" in out.stdout


@pytest.mark.slow
def test_real_smollm2_generates_fixed_length_text(workdir):
    out = run_llem(
        [
            "model=smollm2-135m",
            "hardware=cpu",
            "workload.num_prompts=2",
            "workload.batch_size=2",
            "workload.output_tokens=8",
            "run.repeats=1",
            "run.warmup=0",
        ],
        workdir,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout
    r = results_under(workdir)[0]
    assert r["engine"]["model"]["parameters"] == pytest.approx(134.5e6, rel=0.01)
    assert r["windows"][0]["output_tokens"] == 16
    assert r["identity"]["model"] == "smollm2-135m"


def test_a_job_caught_by_a_signal_after_its_result_was_written_counts_as_measured(tiny_run, monkeypatch):
    """The launcher's question when a signal stops a sweep between a job's result and its return
    (launchers/.../inprocess_launcher.py, and the submitit and Docker launchers through _common.caught_finished):
    seen once under load, all three jobs were reported not started."""
    import yaml

    from llem.sweep.resume import finished_job

    workdir, out = tiny_run
    assert out.returncode == 0, out.stdout
    (rd,) = (workdir / "outputs" / "runs").iterdir()
    job = yaml.safe_load((rd / "config.yaml").read_text())
    monkeypatch.chdir(workdir)  # run.output_root is relative to where llem ran
    outcome = finished_job(job)
    assert outcome is not None and outcome.status == "ok" and outcome.run_dir.endswith(rd.name), outcome
    # every launcher asks the same (local/Slurm jobs in their own process, the Docker launcher on the host)
    from hydra_plugins.llem_launchers._common import caught_finished

    caught = caught_finished(job, "3")
    assert caught is not None and caught.status == "ok" and caught.job == "3" and caught.run_dir == outcome.run_dir
    job["workload"]["output_tokens"] = 9  # another point: nothing on disk
    assert finished_job(job) is None and caught_finished(job, "3") is None

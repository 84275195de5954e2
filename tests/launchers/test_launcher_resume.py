"""Resuming a sweep: llem's launchers skip the points whose complete result is on disk before they
start anything, and run every other point again.

A real sweep of 4 points (2 engine configurations x 2 batch sizes) is measured; then the run dirs
of three points are left as a killed, a failed and an interrupted job leave them (records made by
llem's own writers). The same command again must measure exactly those three and skip the fourth;
once more, with nothing left to do, it must start nothing: no job folder in its sweep dir, no
submitit folder (no worker process), every job counted as skipped in the summary."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from conftest import llem_env, run_llem  # tests/conftest.py
from launcher_helpers import TINY, results, slurm  # noqa: F401  (slurm: fixture)

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # the reference llem's sweeper matches (tests only)
from llem import paths
from llem.results.interrupted import interrupted_record
from llem.results.io import write_json
from llem.results.schema import failure
from llem.sweep import points as sweep_points

POINTS = [
    *TINY,
    "energy=none",
    "tracking=none",
    "run.repeats=1",
    "run.warmup=0",
    "workload.num_prompts=2",
    "workload.output_tokens=2",
    "backend.dtype=float32,bfloat16",
    "workload.batch_size=1,2",
]


def sweep_dirs(root: Path) -> list[Path]:
    return sorted((root / "hydra" / "sweeps").iterdir(), key=lambda p: p.stat().st_mtime)


def summary(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / paths.SWEEP_SUMMARY).read_text())


def leave_as_killed(run_dir: Path) -> None:
    """A job killed before it wrote its result: a half-written temp file at most, no result."""
    (run_dir / paths.RESULT).rename(run_dir / (paths.RESULT + ".tmp"))


def leave_as_failed(run_dir: Path, result: dict) -> None:
    ident = result["identity"]
    (run_dir / paths.RESULT).unlink()
    write_json(
        run_dir / paths.FAILURE,
        failure(
            result["spec"],
            ident["run_id"],
            ident["config_hash"],
            {"type": "RuntimeError", "message": "engine crashed"},
            ident["started_unix_s"],
        ),
    )


def leave_as_interrupted(run_dir: Path, result: dict) -> None:
    ident = result["identity"]
    (run_dir / paths.RESULT).unlink()
    write_json(
        run_dir / paths.INTERRUPTED,
        interrupted_record(
            result["spec"],
            ident["run_id"],
            ident["config_hash"],
            signal.SIGTERM,
            {"stage": "measuring", "windows": []},
            ident["started_unix_s"],
            1,
        ),
    )


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["inprocess", "local"])
def test_resume_reruns_what_is_not_complete_and_starts_nothing_when_all_is(tmp_path, launcher):
    args = ["--multirun", f"hydra/launcher={launcher}", *POINTS, f"run.output_root={tmp_path}"]
    first = run_llem(args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-4000:]
    done = {r["identity"]["run_id"]: r for r in results(tmp_path)}
    assert len(done) == 4 and all(r["status"] == "ok" for r in done.values())
    kept, killed, failed, stopped = sorted(done)
    runs = paths.runs_dir(tmp_path)
    leave_as_killed(runs / killed)
    leave_as_failed(runs / failed, done[failed])
    leave_as_interrupted(runs / stopped, done[stopped])

    again = run_llem(args, cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-4000:]
    assert "llem sweep summary: 3 measured, 1 skipped (complete result already on disk), 0 failed" in again.stdout
    after = {r["identity"]["run_id"]: r for r in results(tmp_path)}
    assert sorted(after) == sorted(done) and all(r["status"] == "ok" for r in after.values())
    assert after[kept]["identity"]["started_unix_s"] == done[kept]["identity"]["started_unix_s"]  # left as it was
    for run_id in (killed, failed, stopped):  # measured again, the stale records gone
        assert after[run_id]["identity"]["started_unix_s"] != done[run_id]["identity"]["started_unix_s"]
        assert not (runs / run_id / paths.FAILURE).exists() and not (runs / run_id / paths.INTERRUPTED).exists()
    partial = sweep_dirs(tmp_path)[-1]
    by_run = {j["run_id"]: j["status"] for j in summary(partial)["jobs"]}
    assert by_run == {kept: "skipped", killed: "measured", failed: "measured", stopped: "measured"}
    # Only the three jobs that ran have a job folder (Hydra's .hydra/ in <sweep dir>/<job number>).
    assert len([p for p in partial.iterdir() if (p / ".hydra").is_dir()]) == 3
    assert (launcher != "local") or list(partial.glob(".submitit/*"))

    final = run_llem(args, cwd=tmp_path)
    assert final.returncode == 0, final.stdout[-4000:]
    assert "llem sweep summary: 0 measured, 4 skipped (complete result already on disk), 0 failed" in final.stdout
    assert {r["identity"]["started_unix_s"] for r in results(tmp_path)} == {
        r["identity"]["started_unix_s"] for r in after.values()
    }
    idle = sweep_dirs(tmp_path)[-1]
    assert idle != partial
    assert sorted(p.name for p in idle.iterdir()) == ["llem_sweep.json", paths.SWEEP_SUMMARY, "multirun.yaml"]
    jobs = summary(idle)["jobs"]
    assert summary(idle)["counts"] == {"measured": 0, "skipped": 4, "failed": 0, "incomplete": 0, "invalid": 0}
    assert sorted((j["job"], j["status"]) for j in jobs) == [(str(n), "skipped") for n in range(4)]
    assert sorted(j["run_id"] for j in jobs) == sorted(done)


@pytest.mark.slow
def test_slurm_resume_with_nothing_left_submits_no_slurm_job(tmp_path, slurm):
    env = llem_env(**{k: v for k, v in slurm.items() if k.startswith("SLURM")})
    args = [
        "--multirun",
        "hydra/launcher=slurm",
        *POINTS[:-2],
        "workload.batch_size=1,2",
        f"hydra.launcher.name=llem-resume-{tmp_path.name}",
        f"run.output_root={tmp_path}",
    ]
    first = run_llem(args, cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout[-4000:]
    assert list(sweep_dirs(tmp_path)[-1].glob(".submitit/*")), "the first run should have submitted a Slurm job"
    again = run_llem(args, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout[-4000:]
    assert "llem sweep summary: 0 measured, 2 skipped (complete result already on disk), 0 failed" in again.stdout
    idle = sweep_dirs(tmp_path)[-1]
    # submitit writes a job's sbatch script and logs under .submitit/ before it submits: none here.
    assert sorted(p.name for p in idle.iterdir()) == ["llem_sweep.json", paths.SWEEP_SUMMARY, "multirun.yaml"]
    assert "nothing submitted" in again.stdout


@pytest.mark.slow
def test_docker_resume_with_nothing_left_needs_no_daemon(tmp_path):
    """The points' results are complete (measured here by the default launcher: a run's identity does
    not depend on where it ran), so the Docker launcher starts no container and asks no daemon."""
    args = ["--multirun", *POINTS[:-2], "workload.batch_size=1,2", f"run.output_root={tmp_path}"]
    assert run_llem(args, cwd=tmp_path).returncode == 0
    again = run_llem(
        [*args, "hydra/launcher=docker"], cwd=tmp_path, env=llem_env(DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock")
    )
    assert again.returncode == 0, again.stdout[-4000:]
    assert "llem sweep summary: 0 measured, 2 skipped (complete result already on disk), 0 failed" in again.stdout
    assert "no container started" in again.stdout
    assert sorted(p.name for p in sweep_dirs(tmp_path)[-1].iterdir()) == ["llem_sweep.json", paths.SWEEP_SUMMARY, "multirun.yaml"]


@pytest.mark.slow
def test_force_is_never_skipped_by_the_launcher(tmp_path):
    args = ["--multirun", *POINTS[:-1], "workload.batch_size=1", "backend.dtype=float32", f"run.output_root={tmp_path}"]
    assert run_llem(args, cwd=tmp_path).returncode == 0
    (before,) = results(tmp_path)
    forced = run_llem([*args, "run.force=true"], cwd=tmp_path)
    assert forced.returncode == 0, forced.stdout[-4000:]
    assert "llem sweep summary: 1 measured, 0 skipped" in forced.stdout
    (after,) = results(tmp_path)
    assert after["identity"]["started_unix_s"] != before["identity"]["started_unix_s"]


@pytest.mark.parametrize(
    "line",
    [
        ["model=tiny", "backend.dtype=float32,bfloat16", "workload.batch_size=1,2,4", "run.quiet=true"],
        ["+foo.bar=1", "~tracking", "a='x y'", "c=[1,2]", "b=range(1,4)", "b=7", "model=tiny,smollm2-135m"],
    ],
)
@pytest.mark.parametrize("batch", [None, 2])
def test_grid_sweeps_the_points_of_hydras_basic_sweeper(line, batch):
    """llem's sweeper expands the command line as Hydra's basic sweeper does (spelling, order, a
    repeated key's last value, batches), so a sweep means what it meant with Hydra's."""
    parsed = OverridesParser.create().parse_overrides(line)
    assert sweep_points.grid(line, max_batch_size=batch) == BasicSweeper.split_arguments(parsed, batch)


# Sweeps whose points llem's sweeper derives from one composed point (plain values of existing
# settings), and the ones it must compose one by one: list values, a dict override over the swept
# key, a quoted number, a null, group choices, a new (+) entry.
DERIVED_LINES = [
    [
        "model=tiny",
        "hardware=cpu",
        "backend.cache_implementation=dynamic,static",
        "backend.dtype=float32,bfloat16",
        "workload.input_tokens=8,10,12",
        "workload.output_tokens=1,2",
    ],
    [
        "hardware=cpu,auto",
        "model=tiny,smollm2-135m",
        "backend=pytorch,vllm",
        "+backend.engine_kwargs.x=1",
        "run.repeats=1,3",
        "workload.sampling.temperature=0.0,0.7,null",
    ],
    [
        "model=tiny",
        "run.output_root=a,b",
        "workload.num_prompts=2,3",
        "hardware.gpus=[0],[1]",
        "workload.input_tokens=4,'5'",
        "run.objective=energy_j_per_output_token,output_tokens_per_s",
    ],
    ["model=tiny", "workload.batch_size=2,3", "workload={batch_size: 7}"],
]


@pytest.mark.slow  # ~140 Hydra compositions in process
def test_derived_points_are_the_points_hydra_composes():
    """A point llem's sweeper derives from an earlier one (llem.sweep.points) must be exactly the
    point Hydra composes from its overrides; the read-once config files must compose what fresh
    reads do, and no composition may leak into the next (the earlier cache let run.repeats=7 of one
    composition into the next)."""
    from hydra import compose, initialize_config_dir, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from llem.config.compose_errors import conf_dir

    derived = 0
    with initialize_config_module(config_module="llem.conf", version_base=None):
        sources = [s["schema"] for s in compose(config_name="config", return_hydra_config=True).hydra.runtime.config_sources]
        assert sources.count("llem-pkg") == 2  # llem's files and Hydra's own are read once (conf_source.py)
        master = compose(config_name="config", overrides=["hydra.mode=MULTIRUN"], return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        for line in DERIVED_LINES:
            (batch,) = sweep_points.grid(line, loader)
            bases = sweep_points.Bases(loader, master)
            fast = [bases.point(overrides, n) for n, overrides in enumerate(batch)]
            composed = sweep_points.compose_points(loader, master, batch, 0)
            assert [p.job for p in fast] == [p.job for p in composed], line
            derived += sum(p.config is None for p in fast)
            assert all(p.config is not None for p in fast) == (line is DERIVED_LINES[-1])  # order would matter there
        once = [
            OmegaConf.to_container(compose(config_name="config", overrides=o), resolve=True)
            for o in (["model=tiny", "run.repeats=7", "backend=vllm"], ["model=tiny"])
        ]
    assert derived > 40 and once[1]["run"]["repeats"] == 3 and once[1]["backend"]["name"] == "pytorch"
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):  # file://: Hydra's own reads
        fresh = [
            OmegaConf.to_container(compose(config_name="config", overrides=o), resolve=True)
            for o in (["model=tiny", "run.repeats=7", "backend=vllm"], ["model=tiny"])
        ]
    assert once == fresh

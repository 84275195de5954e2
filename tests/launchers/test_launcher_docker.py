"""hydra/launcher=docker on a real dockerd (.ci/services.d/dockerd.sh) with llem's CPU image
(docker/build.sh cpu, built here if missing): a two-job sweep whose results match a local run's
in form, and the refusals for a missing image and for an image of another llem version.
Skipped when no dockerd answers."""

from __future__ import annotations

import json
import subprocess

import pytest

import llem
from conftest import run_llem  # tests/conftest.py
from launcher_helpers import SWEEP, TINY, docker, dockerd, key_tree, overlapping, results, spans  # noqa: F401  (fixtures)

IMAGE = f"llem/cpu:{llem.__version__}"
# whichever runs first builds the CPU image when it is missing (debootstrap and the wheels: minutes)
pytestmark = pytest.mark.known_slow(reason="the first test builds llem's CPU image (docker/build.sh cpu) if missing")


def test_docker_sweep_matches_local_results_in_form(tmp_path, docker):
    out = tmp_path / "docker"
    # run.quiet=false (bookkeeping, not part of the config hash): the container's progress must reach docker.log
    proc = run_llem(
        ["--multirun", "hydra/launcher=docker", *TINY, *SWEEP, "run.quiet=false", f"run.output_root={out}"],
        cwd=tmp_path,
        env=docker,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "llem sweep summary: 2 measured, 0 skipped (complete result already on disk), 0 failed" in proc.stdout
    assert f"[{IMAGE}]" in proc.stdout
    done = results(out)
    assert sorted(r["spec"]["workload"]["batch_size"] for r in done) == [1, 2]
    assert all(r["status"] == "ok" for r in done)
    assert overlapping(spans(done[0]), spans(done[1])) == []
    assert "2 job(s) in 1 container(s)" in proc.stdout  # one engine configuration: one container, one load
    first, second = sorted(done, key=lambda r: r["identity"]["started_unix_s"])
    assert first["engine_load"]["reused"] is False and second["engine_load"]["reused"] is True
    job_dirs = sorted((out / "hydra").glob("sweeps/*/[01]"))
    assert len(job_dirs) == 2
    for job_dir in job_dirs:
        outcome = json.loads((job_dir / "llem-outcome.json").read_text())
        assert outcome["status"] == "ok" and outcome["job"] == job_dir.name
        assert (job_dir / ".hydra" / "overrides.yaml").is_file()
    # the container's output is kept, in the first job's folder: both jobs' windows, measured in there
    container_log = (job_dirs[0] / "docker.log").read_text()
    assert container_log.count("measuring window 1/2") == 2 and container_log.count("measuring window 2/2") == 2
    assert "ran in the container of job #0" in (job_dirs[1] / "docker.log").read_text()
    # The same job run locally gives a result of the same form and the same config hash.
    local = tmp_path / "local"
    ref = run_llem([*TINY, "workload.batch_size=1", f"run.output_root={local}"], cwd=tmp_path, env=docker)
    assert ref.returncode == 0, ref.stdout[-3000:]
    [here] = results(local)
    [there] = [r for r in done if r["spec"]["workload"]["batch_size"] == 1]
    assert there["identity"]["config_hash"] == here["identity"]["config_hash"]
    assert key_tree(there) == key_tree(here)
    run_dir = out / "runs" / there["identity"]["run_id"]
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        p.name for p in (local / "runs" / here["identity"]["run_id"]).iterdir()
    )


def test_missing_image_names_the_build_command(tmp_path, docker):
    proc = run_llem(
        [
            "--multirun",
            "hydra/launcher=docker",
            "hydra.launcher.repository=llem-absent",
            *TINY,
            *SWEEP,
            f"run.output_root={tmp_path}",
        ],
        cwd=tmp_path,
        env=docker,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert f"llem: error: image llem-absent/cpu:{llem.__version__} is not built: build it with:" in proc.stdout
    assert "Traceback" not in proc.stdout and not (tmp_path / "runs").exists()


def test_image_of_another_llem_version_is_refused(tmp_path, docker):
    stale = f"llem-stale/cpu:{llem.__version__}"
    dockerfile = (
        f"FROM {IMAGE}\nRUN sed -i 's/^__version__ = .*/__version__ = \"0.0.0-stale\"/' "
        "$(python -c 'import llem; print(llem.__file__)')\n"
    )
    built = subprocess.run(
        ["docker", "build", "-q", "--network", "none", "-t", stale, "-"],
        input=dockerfile,
        env=dict(docker, DOCKER_BUILDKIT="0"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    proc = run_llem(
        [
            "--multirun",
            "hydra/launcher=docker",
            "hydra.launcher.repository=llem-stale",
            *TINY,
            *SWEEP,
            f"run.output_root={tmp_path}",
        ],
        cwd=tmp_path,
        env=docker,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert f"image {stale} has llem 0.0.0-stale" in proc.stdout and "rebuild the image with" in proc.stdout
    assert not (tmp_path / "runs").exists()

"""Helpers for the launcher tests: fast tiny-model overrides, the CI Slurm and dockerd
endpoints (.ci/services.d/) as fixtures that skip when absent (and fail under CI=true), and checks on measured windows.

Not a conftest.py: the suite's tests import `conftest` (tests/conftest.py) by name, and a second
conftest module would shadow it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, llem_env, provisioned

# A tiny, fast job: 2-layer random Llama, 4 prompts x 8 new tokens, two measured windows.
TINY = [
    "model=tiny",
    "hardware=cpu",
    "workload.num_prompts=4",
    "workload.input_tokens=16",
    "workload.output_tokens=8",
    "run.repeats=2",
    "run.warmup=1",
    "energy.baseline_s=0",
    "run.quiet=true",
]
SWEEP = ["workload.batch_size=1,2"]

SLURM_CONF = "/tmp/llem-slurm/slurm.conf"  # where .ci/services.d/slurm.sh writes it
DOCKER_SOCKET = "/run/llem-dockerd/docker.sock"  # where .ci/services.d/dockerd.sh listens


def results(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/result.json"))]


def spans(result: dict) -> list[tuple[float, float]]:
    return [(w["started_unix_s"], w["started_unix_s"] + w["duration_s"]) for w in result["windows"]]


def overlapping(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list:
    return [(x, y) for x in a for y in b if x[0] < y[1] and y[0] < x[1]]


def key_tree(value):
    """The shape of a result: its keys, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: key_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [key_tree(value[0])] if value and isinstance(value[0], (dict, list)) else []
    return None


def slurm_env() -> dict | None:
    """Environment reaching the CI's one-node Slurm, or None if sinfo does not answer."""
    if shutil.which("sinfo") is None:
        return None
    env = dict(os.environ)
    if "SLURM_CONF" not in env and Path(SLURM_CONF).is_file():
        env["SLURM_CONF"] = SLURM_CONF
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return None
    return env if out.returncode == 0 and out.stdout.strip() else None


def docker_env() -> dict | None:
    """Environment reaching a dockerd (the CI's private one by default), or None."""
    if shutil.which("docker") is None:
        return None
    env = dict(os.environ)
    if "DOCKER_HOST" not in env and Path(DOCKER_SOCKET).exists():
        env["DOCKER_HOST"] = f"unix://{DOCKER_SOCKET}"
    try:
        out = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"], env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return None
    return env if out.returncode == 0 else None


@pytest.fixture(scope="session")
def slurm() -> dict:
    env = slurm_env()
    if env is None:
        provisioned("Slurm", "no cluster answers sinfo (start one with: bash .ci/services.d/slurm.sh start)")
    return env


@pytest.fixture(scope="session")
def dockerd() -> dict:
    env = docker_env()
    if env is None:
        provisioned("dockerd", "no daemon answers docker version (start one with: bash .ci/services.d/dockerd.sh start)")
    return env


_BUILT: dict = {}  # once per test process, whichever test module asks first


@pytest.fixture(scope="session")
def docker(dockerd) -> dict:
    """Environment for llem with the CPU image built (cached layers make a rebuild quick)."""
    if "env" not in _BUILT:
        # Building the image is provisioning, as CI's install steps are: it fetches packages, so it runs
        # without the tests' loopback-only guard (tests/subprocess_guard); the tests that use it keep it.
        guard = str(Path(__file__).resolve().parent.parent / "subprocess_guard")
        build_env = dict(
            dockerd, PYTHONPATH=os.pathsep.join(p for p in dockerd.get("PYTHONPATH", "").split(os.pathsep) if p and p != guard)
        )
        build = subprocess.run(
            ["bash", "docker/build.sh", "cpu"], cwd=REPO, env=build_env, capture_output=True, text=True, timeout=1200
        )
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        _BUILT["env"] = llem_env(DOCKER_HOST=dockerd.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    return _BUILT["env"]

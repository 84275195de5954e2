"""Shared test helpers: run llem as a user would (a subprocess), in a temporary working dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def llem_env(**extra) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_llem(args: list[str], cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m llem ARGS` in cwd; returns the completed process (stdout+stderr in .stdout)."""
    return subprocess.run([sys.executable, "-m", "llem", *args], cwd=cwd, env=env or llem_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def process_gone(pid: int) -> bool:
    """The process has exited: no such pid, or a zombie (exited, awaiting its reaper, still answers kill(0))."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def results_under(root: Path) -> list[dict]:
    """Results of the run directories under an output root (not copies such as tracker artifacts)."""
    return [json.loads(p.read_text()) for p in sorted(Path(root).glob("**/runs/*/result.json"))]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Fails any test that opens a connection outside loopback (tests/netguard.py), even where the code
    under test caught the refusal."""
    from netguard import Guard

    guard = Guard().install(monkeypatch)
    yield guard
    assert not guard.attempts, f"connections outside loopback: {guard.attempts}"


@pytest.fixture(autouse=True)
def _fresh_specs():
    """Specs are built once per process by their config (llem.spec.build_spec); a test may change
    the environment they were checked against, so each test starts without them."""
    from llem.spec import forget_built_specs

    forget_built_specs()
    yield

"""The suite's time budget holds (tests/conftest.py, docs/testing.md): a test over the per-test cap
fails loudly unless it is marked known_slow with a reason, and the quick tier leaves out every test
that starts a process, directly or through a helper or fixture in the tests' own files."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO, llem_env

PROBE = """
import subprocess
import time

import pytest


def _helper():
    return subprocess.run(["true"])


@pytest.fixture
def started():
    return _helper()


def test_under_the_cap():  # first: it carries the session's first setup
    pass


def test_over_the_cap():
    time.sleep(0.8)


@pytest.mark.known_slow(reason="probe: allowed past the cap")
def test_over_the_cap_but_known_slow():
    time.sleep(0.8)


@pytest.mark.known_slow
def test_known_slow_without_a_reason():
    time.sleep(0.8)


def test_through_a_helper():
    _helper()


def test_through_a_fixture(started):
    pass
"""


def run_probe(tmp_path, *args: str, cap: str = "0.5"):
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = llem_env(LLEM_TEST_CAP_S=cap)
    env["PYTHONPATH"] = f"{REPO / 'tests'}:{env['PYTHONPATH']}"  # the suite's conftest, loaded as a plugin
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "conftest",
            "-rA",
            *args,
            str(tmp_path / "test_probe.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_test_over_the_cap_fails_unless_marked_known_slow_with_a_reason(tmp_path):
    out = run_probe(tmp_path)
    assert out.returncode == 1, out.stdout
    failed = sorted(line.split("::")[1].split()[0] for line in out.stdout.splitlines() if line.startswith("FAILED"))
    assert failed == ["test_known_slow_without_a_reason", "test_over_the_cap"], out.stdout
    assert re.search(
        r"test_probe.py::test_over_the_cap: call took \d+\.\d s, over the per-test cap of 0.5 s "
        r"\(LLEM_TEST_CAP_S\)",
        out.stdout,
    ), out.stdout
    assert "PASSED test_probe.py::test_over_the_cap_but_known_slow" in out.stdout
    # the documented default: 120 s, far above these probes
    assert run_probe(tmp_path, cap="").returncode == 0


def test_the_quick_tier_leaves_out_tests_that_start_processes(tmp_path):
    out = run_probe(tmp_path, "-m", "quick", "--collect-only", cap="")
    collected = sorted(line.split("::")[1] for line in out.stdout.splitlines() if "::" in line)
    assert collected == ["test_over_the_cap", "test_under_the_cap"], out.stdout


WORKER_PROBE = """
import os
from pathlib import Path

import pytest


@pytest.mark.parametrize("i", range(4))
def test_records_its_worker(i):
    with open(Path(__file__).with_suffix(".workers"), "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def test_xdist_keeps_each_module_on_one_worker(tmp_path):
    """.ci/run's `-n 2 --dist loadscope`: a module's tests (and so its module fixtures) stay on one worker."""
    for name in ("test_a.py", "test_b.py", "test_c.py"):
        (tmp_path / name).write_text(WORKER_PROBE)
    env = llem_env()
    env["PYTHONPATH"] = f"{REPO / 'tests'}:{env['PYTHONPATH']}"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "conftest",
            "-n",
            "2",
            "--dist",
            "loadscope",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    workers = {
        name: set((tmp_path / name).with_suffix(".workers").read_text().split())
        for name in ("test_a.py", "test_b.py", "test_c.py")
    }
    assert all(len(w) == 1 for w in workers.values()), workers
    assert set().union(*workers.values()) == {"gw0", "gw1"}, workers  # and the modules are spread over both


def test_slurm_and_docker_modules_share_one_unit_and_a_new_one_must_be_listed(tmp_path):
    from conftest import CLUSTER_MODULES, xdist_scope

    assert {xdist_scope(f"{m}::test_x") for m in CLUSTER_MODULES} == {"slurm-docker"}
    assert xdist_scope("tests/test_pipeline.py::test_x[a]") == "tests/test_pipeline.py"
    (tmp_path / "test_unlisted.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef slurm():\n    return {}\n\ndef test_uses_slurm(slurm):\n    pass\n"
    )
    env = llem_env()
    env["PYTHONPATH"] = f"{REPO / 'tests'}:{env['PYTHONPATH']}"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", "--collect-only", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "test_unlisted.py uses slurm: add it to CLUSTER_MODULES" in out.stdout + out.stderr

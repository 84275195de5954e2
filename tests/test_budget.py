"""The suite's time budget holds (tests/conftest.py, docs/testing.md): a test over the per-test cap
fails loudly unless it is marked known_slow with a reason, and the quick tier leaves out every test
that starts a process, directly or through a helper or fixture in the tests' own files."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO, llem_env

PROBE = '''
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
'''


def run_probe(tmp_path, *args: str, cap: str = "0.5"):
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = llem_env(LLEM_TEST_CAP_S=cap)
    env["PYTHONPATH"] = f"{REPO / 'tests'}:{env['PYTHONPATH']}"  # the suite's conftest, loaded as a plugin
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", "-rA",
                           *args, str(tmp_path / "test_probe.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_test_over_the_cap_fails_unless_marked_known_slow_with_a_reason(tmp_path):
    out = run_probe(tmp_path)
    assert out.returncode == 1, out.stdout
    failed = sorted(line.split("::")[1].split()[0] for line in out.stdout.splitlines() if line.startswith("FAILED"))
    assert failed == ["test_known_slow_without_a_reason", "test_over_the_cap"], out.stdout
    assert re.search(r"test_probe.py::test_over_the_cap: call took \d+\.\d s, over the per-test cap of 0.5 s "
                     r"\(LLEM_TEST_CAP_S\)", out.stdout), out.stdout
    assert "PASSED test_probe.py::test_over_the_cap_but_known_slow" in out.stdout
    # the documented default: 120 s, far above these probes
    assert run_probe(tmp_path, cap="").returncode == 0


def test_the_quick_tier_leaves_out_tests_that_start_processes(tmp_path):
    out = run_probe(tmp_path, "-m", "quick", "--collect-only", cap="")
    collected = sorted(line.split("::")[1] for line in out.stdout.splitlines() if "::" in line)
    assert collected == ["test_over_the_cap", "test_under_the_cap"], out.stdout

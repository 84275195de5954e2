"""The subprocess half of the tests' network guard (tests/subprocess_guard/llem_netguard.py, put into every
Python process the tests start by the sitecustomize that tests/conftest.py puts on PYTHONPATH; the
in-process guard is tests/netguard.py, tested by test_netguard.py) and the telemetry switches.
192.0.2.1 is TEST-NET-1 (RFC 5737), never routed."""

from __future__ import annotations

import subprocess
import sys

import llem_netguard
import pytest
from conftest import TELEMETRY_OFF, llem_env


@pytest.fixture
def guard_log(tmp_path, monkeypatch):
    """Refusals in this test go to a log of its own, so the autouse guard does not fail the test."""
    log = tmp_path / "netguard.log"
    monkeypatch.setenv(llem_netguard.LOG_ENV, str(log))
    return log


def test_the_subprocess_guard_allows_loopback_and_refuses_the_rest():
    for host in ("127.0.0.1", "127.8.9.10", "localhost", "::1"):
        assert llem_netguard.allowed(host)
    for host in ("10.0.0.1", "0.0.0.0", "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "example.org"):
        assert not llem_netguard.allowed(host)


def test_subprocesses_carry_the_guard_and_a_swallowed_refusal_is_still_logged(guard_log):
    code = (
        "import socket\ns = socket.socket()\ntry:\n    s.connect(('192.0.2.1', 443))\n"
        "except ConnectionRefusedError as e:\n    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=llem_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "llem test network guard" in out.stdout, out.stdout + out.stderr
    assert "192.0.2.1" in guard_log.read_text()  # the parent sees it although the child swallowed it


def test_telemetry_is_off_for_everything_the_tests_start():
    env = llem_env()
    assert {k: env[k] for k in TELEMETRY_OFF} == TELEMETRY_OFF
    code = (
        "from mlflow.environment_variables import MLFLOW_DISABLE_TELEMETRY as m; import vllm.envs as e; "
        "print(m.get(), e.VLLM_NO_USAGE_STATS, e.VLLM_DO_NOT_TRACK)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True", "True"], out.stdout + out.stderr

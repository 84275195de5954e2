"""The tests' network guard (tests/netguard/, installed by tests/conftest.py) and telemetry switches.

192.0.2.1 is TEST-NET-1 (RFC 5737), never routed: even a guard that failed open could not reach it,
but the guard must refuse it before the connect syscall, which these tests see as no SYN at all
(the call returns at once with BlockedConnection instead of hanging until a timeout)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import llem_netguard
import pytest
from conftest import TELEMETRY_OFF, llem_env


@pytest.fixture
def guard_log(tmp_path, monkeypatch):
    """Refusals in this test go to a log of its own, so the autouse guard does not fail the test."""
    log = tmp_path / "netguard.log"
    monkeypatch.setenv(llem_netguard.LOG_ENV, str(log))
    return log


@pytest.mark.parametrize("method", ["connect", "connect_ex"])
def test_connect_outside_loopback_is_refused_before_the_syscall(guard_log, method):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    t0 = time.monotonic()
    with s, pytest.raises(llem_netguard.BlockedConnection, match=r"192\.0\.2\.1.*only reach loopback"):
        getattr(s, method)(("192.0.2.1", 80))
    assert time.monotonic() - t0 < 0.5  # refused, not a 5 s wait for a SYN that nobody answers
    assert "192.0.2.1" in guard_log.read_text()


def test_ipv6_and_names_are_refused_but_loopback_is_not(guard_log):
    for family, address in ((socket.AF_INET6, ("2001:db8::1", 80, 0, 0)), (socket.AF_INET, ("example.org", 80)),
                            (socket.AF_INET6, ("::ffff:192.0.2.1", 80, 0, 0))):
        with socket.socket(family, socket.SOCK_STREAM) as s, pytest.raises(llem_netguard.BlockedConnection):
            s.connect(address)
    assert len(guard_log.read_text().splitlines()) == 3
    for host in ("127.0.0.1", "127.8.9.10", "localhost"):
        assert llem_netguard.allowed(host)
    assert not llem_netguard.allowed("10.0.0.1") and not llem_netguard.allowed("0.0.0.0")
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname(), timeout=5):
        pass  # loopback still connects


def test_subprocesses_carry_the_guard_and_a_swallowed_refusal_is_still_logged(guard_log):
    code = ("import socket\ns = socket.socket()\ntry:\n    s.connect(('192.0.2.1', 443))\n"
            "except ConnectionRefusedError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=llem_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "llem test network guard" in out.stdout, out.stdout + out.stderr
    assert "192.0.2.1" in guard_log.read_text()  # the parent sees it although the child swallowed it


def test_telemetry_is_off_for_everything_the_tests_start():
    env = llem_env()
    assert {k: env[k] for k in TELEMETRY_OFF} == TELEMETRY_OFF
    code = ("from mlflow.environment_variables import MLFLOW_DISABLE_TELEMETRY as m; import vllm.envs as e; "
            "print(m.get(), e.VLLM_NO_USAGE_STATS, e.VLLM_DO_NOT_TRACK)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True", "True"], out.stdout + out.stderr

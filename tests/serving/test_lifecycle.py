"""Server lifecycle with real subprocesses: never ready, dies while starting, ignores SIGTERM,
outlived by its parent. Fake servers are plain `python -c` programs (no engine needed)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import process_gone
from llem.serving.plan import ServerPlan
from llem.serving.servers import ServerFailed, ServerProcess, free_port, start_server


def _plan(code: str) -> ServerPlan:
    return ServerPlan("fake server", [sys.executable, "-c", textwrap.dedent(code)], free_port())


def test_server_that_never_becomes_ready_times_out_clearly_and_is_stopped(tmp_path):
    plan = _plan("print('loading weights...', flush=True)\nimport time\ntime.sleep(600)")
    t0 = time.monotonic()
    with pytest.raises(ServerFailed) as err:
        start_server(plan, tmp_path, ready_timeout_s=1.5)
    assert time.monotonic() - t0 < 20
    msg = str(err.value)
    assert "did not become ready within workload.ready_timeout_s=1.5 s" in msg and f"{plan.url}/v1/models" in msg
    assert "loading weights..." in msg  # the server's last log lines come with it
    import json

    pid = json.loads((tmp_path / "server.json").read_text())["pid"]
    assert process_gone(pid)


def test_server_that_exits_while_starting_reports_its_exit_code_and_log(tmp_path):
    plan = _plan("import sys\nprint('error: unknown flag --bogus', flush=True)\nsys.exit(3)")
    with pytest.raises(ServerFailed) as err:
        start_server(plan, tmp_path, ready_timeout_s=30)
    assert "exited with code 3" in str(err.value) and "unknown flag --bogus" in str(err.value)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path):
    plan = _plan("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(600)")
    server = ServerProcess(plan, tmp_path / "server.log")
    server.start()
    deadline = time.monotonic() + 30  # it ignores SIGTERM once it has said "up" (not after a fixed wait)
    while "up" not in (tmp_path / "server.log").read_text():
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.05)
    stopped = server.stop(grace_s=0.5)
    assert stopped["how"] == "SIGKILL after 0.5 s" and stopped["returncode"] == -signal.SIGKILL
    assert process_gone(server.pid)
    assert server.stop() == stopped  # idempotent


def test_server_dies_with_the_process_that_started_it(tmp_path):
    """A measuring process killed outright (run.timeout_s, OOM) leaves no server behind."""
    pidfile = tmp_path / "server.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from llem.serving.servers import ServerProcess
        from llem.serving.plan import ServerPlan
        s = ServerProcess(ServerPlan("fake", [sys.executable, "-c", "import time; time.sleep(600)"], 1), Path({str(tmp_path)!r}) / "log")
        s.start()
        Path({str(pidfile)!r}).write_text(str(s.pid))
        time.sleep(600)
    """),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline, "the parent never started its server"
            time.sleep(0.1)
        server_pid = int(pidfile.read_text())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while not process_gone(server_pid):
            assert time.monotonic() < deadline, "the server outlived the process that started it"
            time.sleep(0.1)
    finally:
        parent.kill()

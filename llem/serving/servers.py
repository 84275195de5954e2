"""Server lifecycle: start an engine's server as a subprocess in its own process group on loopback,
wait until it answers, and always stop it (SIGTERM to the group, SIGKILL after a grace period).

If the measuring process itself dies (killed by a timeout, a crash), the kernel sends the server
SIGTERM (PR_SET_PDEATHSIG), so no server outlives the job that started it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from llem import paths
from llem.host.telemetry import opt_out
from llem.serving.plan import ServerPlan

STOP_GRACE_S = 15.0
_PR_SET_PDEATHSIG = 1


class ServerFailed(RuntimeError):
    """The server could not be started, did not become ready, or died; the message says which."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not glibc Linux: the finally in the parent still stops it
        pass


def http_ready(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_for_url(url: str, timeout_s: float, what: str, alive=lambda: None, tail=lambda: "") -> float:
    """Poll GET url until it answers 2xx; returns the seconds waited. `alive` raises if the server died."""
    t0 = time.monotonic()
    delay = 0.1
    while True:
        alive()
        if http_ready(url):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            log = tail()
            raise ServerFailed(
                f"the {what} did not become ready within workload.ready_timeout_s={timeout_s:g} s "
                f"(GET {url} never answered): raise the timeout or read the server's log"
                + (f"; its last lines:\n{log}" if log else ".")
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


class ServerProcess:
    """One server subprocess; its output goes to log_path."""

    def __init__(self, plan: ServerPlan, log_path: Path):
        self.plan = plan
        self.log_path = Path(log_path)
        self.proc: Optional[subprocess.Popen] = None
        self.stopped: Optional[dict] = None

    def start(self) -> None:
        env = opt_out(dict(os.environ, **self.plan.env))  # also where no llem worker set them (tests, attach)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self.proc = subprocess.Popen(
                    self.plan.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise ServerFailed(
                    f"the {self.plan.engine} could not be started ({self.plan.argv[0]}: {exc.strerror or exc})."
                ) from None

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def describe(self) -> dict:
        return {
            "engine": self.plan.engine,
            "argv": self.plan.argv,
            "url": self.plan.url,
            "pid": self.pid,
            "env": self.plan.env,
            "log": self.log_path.name,
        }

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise ServerFailed, with the last log lines, if the server has exited."""
        if self.proc is None or self.proc.poll() is None:
            return
        code = self.proc.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        log = self.log_tail()
        raise ServerFailed(
            f"the {self.plan.engine} (pid {self.proc.pid}) {how}" + (f"; its last log lines:\n{log}" if log else ".")
        )

    def wait_ready(self, timeout_s: float) -> float:
        return wait_for_url(self.plan.url + self.plan.ready_path, timeout_s, self.plan.engine, self.check_alive, self.log_tail)

    def stop(self, grace_s: float = STOP_GRACE_S) -> dict:
        """SIGTERM to the server's process group, SIGKILL after grace_s; idempotent."""
        if self.proc is None or self.stopped is not None:
            return self.stopped or {}
        how = "already exited"
        if self.proc.poll() is None:
            how = "SIGTERM"
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                how = f"SIGKILL after {grace_s:g} s"
                self._signal_group(signal.SIGKILL)
                self.proc.wait()
        self._signal_group(signal.SIGKILL)  # whatever the server left behind in its group
        self.stopped = {"how": how, "returncode": self.proc.returncode}
        return self.stopped

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # its own session: pgid == pid
        except (ProcessLookupError, PermissionError):
            pass


def start_server(plan: ServerPlan, run_dir: Path, ready_timeout_s: float) -> ServerProcess:
    """Start the server (log and server.json in run_dir) and wait until it answers; stopped again
    if it never does. The caller stops it (a sweep's worker may keep it for the next job)."""
    server = ServerProcess(plan, Path(run_dir) / paths.SERVER_LOG)
    try:
        server.start()
        (Path(run_dir) / paths.SERVER).write_text(json.dumps(server.describe(), indent=2))
        server.wait_ready(ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server

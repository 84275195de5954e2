"""What the Docker launcher does when a signal stops the sweep (llem/host/interrupt.py).

In the container: llem handles SIGINT/SIGTERM itself (_docker_job.py) behind docker's init
(`--init`: tini passes signals on to llem and reaps orphaned processes); `docker run
--stop-timeout` gives it STOP_TIMEOUT_S after a `docker stop` (by hand too) before docker's SIGKILL,
more than the measurement worker's interrupt.GRACE_S to release the engine and write its records.
In the launching llem: the signal is passed on with `docker stop` (not `docker kill`, which would
leave no record), the container's output is copied until it exits, and the outcomes it wrote join
the sweep summary. A second signal (a forced exit) kills the container first: none is left running.
"""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from typing import Callable, Iterator

STOP_TIMEOUT_S = 30  # docker's default is 10 s; llem's worker may take interrupt.GRACE_S (20 s)


def stop_args(init: bool, stop_timeout_s: int) -> list[str]:
    """`docker run` arguments: an init as PID 1, and the time a stopped container has to clean up."""
    return (["--init"] if init else []) + ["--stop-timeout", str(int(stop_timeout_s))]


def stop_and_drain(docker: str, name: str, proc: subprocess.Popen, copy: Callable[[str], None], stop_timeout_s: int) -> int:
    """docker stop the container (SIGTERM to its init, SIGKILL after its stop timeout) while copying
    its output to the end; returns the exit status of `docker run` (128 + the signal, if llem in
    the container was stopped by it)."""
    stopper = subprocess.Popen([docker, "stop", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:
        copy(line)
    code = proc.wait()
    try:
        stopper.wait(timeout=stop_timeout_s + 30)
    except subprocess.TimeoutExpired:
        stopper.kill()
    return code


@contextmanager
def killed_on_forced_exit(docker: str, name: str) -> Iterator[None]:
    from llem.host.interrupt import on_forced_exit

    def kill() -> None:
        subprocess.run([docker, "kill", name], capture_output=True, timeout=10)

    with on_forced_exit(kill):
        yield

"""Stopping a run: what SIGINT (Ctrl-C) and SIGTERM (scancel, docker stop, systemd) do.

In llem's main process (install): the first signal raises Interrupted where the process is; the
job being measured is stopped (its worker releases the engine, stops any server and the sampler
and reports the windows it had measured), its run dir records `interrupted`, the sweep prints its
summary and llem exits 128 + the signal (130 for SIGINT, 143 for SIGTERM). A second signal kills
the workers and exits at once.

In a measurement worker (install_worker): the first signal raises Interrupted inside the
measurement, so every `finally` (sampler, meter, engine, server) runs; later ones are ignored
while it cleans up (its parent kills it if that takes longer than GRACE_S). The worker also keeps
what the job has done so far (stage, windows measured), sent back as plain data.

A process started in the background by a non-interactive shell inherits SIGINT ignored; llem
handles it anyway, so `kill -INT -<pgid>` stops llem run from a script too.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_S = 20.0  # how long a stopped worker may take to release its engine and stop its server

_received: dict = {"signum": None, "force": True}
_children: set[int] = set()  # worker pids a forced exit kills
_on_force: list = []  # what a forced exit does first (the Docker launcher: kill the running container)
_progress: dict = {"stage": None, "windows": []}


class Interrupted(KeyboardInterrupt):
    """A signal stopped the run. `partial`: what the stopped job had done (stage, windows), if it
    was being measured; `outcome`: set by llem.cli.app once the job's run dir records it; `outcomes`:
    every job's outcome so far, the stopped and the never started included, set on the way up by
    llem's launchers and sweeper (the sweep's end counts them)."""

    def __init__(self, signum: int, partial: Optional[dict] = None):
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum, self.partial, self.outcome = signum, partial, None
        self.outcomes: list = []


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


def received() -> Optional[int]:
    """The signal that stopped this process's run, or None."""
    return _received["signum"]


def install(force_on_repeat: bool = True) -> None:
    """llem's main process: SIGINT and SIGTERM stop the run (see the module's docstring).
    force_on_repeat=False (a submitit job, which may get the signal twice: from the group and from
    submitit's controller): later signals are ignored, and the launching llem decides."""
    _received["force"] = force_on_repeat
    for sig in SIGNALS:
        signal.signal(sig, _on_signal)


def _on_signal(signum, frame) -> None:
    if _received["signum"] is not None:  # the second one: no more cleaning up
        if not _received.get("force", True):
            return
        for pid in list(_children):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for action in list(_on_force):
            try:
                action()
            except Exception:  # exiting regardless
                pass
        os.write(2, f"\nllem: {signal_name(signum)} again: exiting at once\n".encode())
        os._exit(exit_code(_received["signum"]))
    _received["signum"] = signum
    os.write(
        2,
        f"\nllem: {signal_name(signum)} received: stopping (the job's engine, server and sampler are "
        f"released; send it again to exit at once)\n".encode(),
    )
    raise Interrupted(signum)


def child_started(pid: int) -> None:
    _children.add(pid)


def child_ended(pid: int) -> None:
    _children.discard(pid)


@contextmanager
def on_forced_exit(action) -> Iterator[None]:
    """While inside: a forced exit (the second signal) calls action() first, e.g. to kill a child
    that killing a pid does not stop (a container, which the docker CLI only attaches to)."""
    _on_force.append(action)
    try:
        yield
    finally:
        _on_force.remove(action)


def install_worker() -> None:
    """A measurement worker: the first signal stops the measurement, later ones are ignored."""
    for sig in SIGNALS:
        signal.signal(sig, _on_worker_signal)


def _on_worker_signal(signum, frame) -> None:
    if _received["signum"] is not None:
        return  # cleaning up already; the parent kills this process if it takes too long
    _received["signum"] = signum
    raise Interrupted(signum, partial())


@contextmanager
def spawning() -> Iterator[None]:
    """Around starting a child process: the child is born ignoring SIGINT/SIGTERM (the disposition
    survives exec), so a signal to the group while it imports cannot end it with a traceback; it
    installs its own handling once started. This process ignores them for those milliseconds too;
    whoever waits on the child sends it the signal again (runner: until it answers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def ignore_signals() -> None:
    """Helper processes (the sampler): their parent stops them; a signal to the group must not."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


# What the job being measured in this process has done so far.


def job_started() -> None:
    _progress.update(stage=None, windows=[])


def stage(message: str) -> None:
    _progress["stage"] = message


def note_window(window: dict) -> None:
    """A measured window (the harnesses call this as each one ends)."""
    _progress["windows"].append(window)


def partial() -> dict:
    return {"stage": _progress["stage"], "windows": list(_progress["windows"])}

"""What llem's submitit launchers do when a signal stops the sweep (llem/host/interrupt.py); the Docker launcher's is _docker_stop.py.

In the job's process (submitit's task): llem handles SIGINT/SIGTERM itself (submitit's own handler
would only log SIGTERM, Python's would end SIGINT with a traceback); the job being measured records
itself as interrupted and the unit's later jobs as not started, and the process returns normally.
In the launching process: the stop is passed on to every running job (a local job's submitit
controller forwards SIGTERM to its task; a Slurm job is cancelled, as scancel would), they are given
interrupt.GRACE_S (plus a margin) to end, and what they report joins the sweep summary."""

from __future__ import annotations

import os
import signal
import time

MARGIN_S = 10.0  # on top of the worker's own grace: the job's process writes its records and exits


def not_started(idx: int | str) -> dict:
    return {
        "status": "not_started",
        "run_dir": None,
        "job": str(idx),
        "user_error": False,
        "headline": None,
        "message": "not started: the sweep was stopped before this job",
    }


def pass_on(submitted_jobs, executor_kind: str, signum: int) -> None:
    """Stop the submitted jobs that are still running, and wait for them to end (bounded). A local
    job is sent SIGTERM again until it ends: a task still starting up has not taken llem's handler."""
    from llem.host.interrupt import GRACE_S

    running = [job for job in submitted_jobs if not job.done()]
    if executor_kind != "local":
        for job in running:
            job.cancel(check=False)  # scancel: SIGTERM to the job's processes, SIGKILL after Slurm's KillWait
    deadline, resend = time.monotonic() + GRACE_S + MARGIN_S, 0.0
    while running and time.monotonic() < deadline:
        if executor_kind == "local" and time.monotonic() >= resend:
            for job in running:  # the job id is its controller's pid; it forwards SIGTERM to the task
                _kill(int(job.job_id), signal.SIGTERM)
            resend = time.monotonic() + 1.0
        time.sleep(0.2)
        running = [job for job in running if not job.done()]
    for job in running:  # past its grace: ended without a record (the summary says so)
        if executor_kind == "local":
            for pid in [*_children(int(job.job_id)), int(job.job_id)]:
                _kill(pid, signal.SIGKILL)
        else:
            job.cancel(check=False)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _children(pid: int) -> list[int]:
    """The processes whose parent is pid (a local controller's tasks)."""
    from pathlib import Path

    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found

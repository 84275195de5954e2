"""One measurement per run directory at a time, across processes and hosts: two sweeps into one
output root never measure the same point twice.

The job holds a POSIX record lock (fcntl.lockf) on <run_dir>/.llem.lock while it measures and
writes; the file names the holder (pid, host, since) for the message another job prints while it
waits. The kernel drops the lock when the holder exits however it ends (kill -9 included), so a
lock is never stale on one host. A job that finds the lock held waits for it, then looks again:
the other job's complete result is skipped, a failure is measured again.

Across hosts: lockf locks are honoured on NFSv4, and on NFSv3 where the client runs lockd/statd
(the usual Slurm set-up); a node that dies holding one keeps it until the server's lease or lock
recovery expires it (NFSv4: one lease period, 90 s by default). Where a file system ignores
locks (NFS mounted with `nolock`, some FUSE and object-store mounts) two jobs on different hosts
are not kept apart: lockf succeeds on both; jobs on one host still are."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

LOCK_FILE = ".llem.lock"
POLL_S = 1.0


def _holder(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def describe(holder: Optional[dict]) -> str:
    if not holder:
        return "another llem process"
    return f"llem pid {holder.get('pid')} on {holder.get('host')}"


@contextmanager
def run_dir_lock(run_dir: Path, on_wait: Callable[[str], None] = lambda _: None) -> Iterator[bool]:
    """Hold the run dir's lock inside the block; yields whether another process held it first
    (then the caller looks at the run dir again before measuring)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    waited = False
    try:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (BlockingIOError, PermissionError):
                if not waited:
                    on_wait(describe(_holder(path)))
                waited = True
                time.sleep(POLL_S)
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since_unix_s": time.time()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
        yield waited
    finally:
        os.close(fd)  # closing drops the lock; the file stays (deleting it would race a waiter)

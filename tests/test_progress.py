"""Progress that fits where it is written: library bars only on a terminal (a log gets no
carriage-return frames), and a sweep's `job k of N` line with elapsed and remaining time."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from conftest import llem_env
from llem.host.progress import SweepProgress, duration

# The GGUF -> transformers conversion of the default model (transformers draws a tqdm bar over its 272 tensors)
CONVERT = (
    "from llem.host.progress import library_bars; library_bars(); "
    "from llem.models.builtin import materialize; materialize('smollm2-135m')"
)


def test_sweep_line_counts_jobs_and_estimates_the_rest():
    now = [100.0]
    p = SweepProgress(4, clock=lambda: now[0])
    assert p.line() == "job 1 of 4 · 0s elapsed · time left known after the first job"
    p.start()
    now[0] += 30
    p.start()
    now[0] += 50  # two jobs took 80 s: 40 s a job, two to go
    assert p.line() == "job 3 of 4 · 1m20s elapsed · ~1m20s left"
    assert p.line(2) == "jobs 3-4 of 4 · 1m20s elapsed · ~1m20s left"  # a container that runs two
    assert duration(3725) == "1h02m" and duration(59.6) == "1m00s"


def _convert(cache, stderr) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CONVERT],
        env=llem_env(LLEM_CACHE_DIR=cache),
        stderr=stderr,
        stdout=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_gguf_conversion_bar_only_on_a_terminal(tmp_path):
    # The two conversions (separate caches) run side by side: each is one process that mostly waits on
    # one core, and the box has two.
    log = tmp_path / "log.txt"
    with open(log, "wb") as fh:
        to_log = _convert(tmp_path / "cache-log", fh)

    leader, follower = pty.openpty()  # the same conversion with a terminal for stderr draws its bar
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a width
    proc = _convert(tmp_path / "cache-tty", follower)
    os.close(follower)
    seen = b""
    try:
        while True:  # read as it writes: a pty holds only a few KiB
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
        assert proc.wait(600) == 0, seen[-2000:]
        assert to_log.wait(600) == 0, log.read_bytes()[-2000:]
    assert b"\r" not in log.read_bytes(), log.read_bytes()[:500]
    assert b"\r" in seen and b"de-quantizing GGUF tensors" in seen

"""Terminal feedback on stderr (rich), silent with run.quiet=true or -q."""

from __future__ import annotations

import sys
import time
from typing import Callable


def console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stage_printer(quiet: bool) -> Callable[[str], None]:
    if quiet:
        return lambda _msg: None
    con = console()
    start = time.monotonic()

    def show(msg: str) -> None:
        con.print(f"[dim]{time.monotonic() - start:7.1f}s[/dim] [cyan]llem[/cyan] {msg}")
        sys.stderr.flush()

    return show


def library_bars() -> None:
    """Progress bars of the libraries llem drives (tqdm: transformers' GGUF de-quantizing, shard
    writing, hub downloads) only on a terminal. Elsewhere each redraw is a carriage-return frame
    that piles up in logs, so they are turned off; llem's own stage lines say what is happening.
    Call before tqdm is imported: it reads TQDM_* once, at import (worker processes inherit it)."""
    import os

    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class SweepProgress:
    """`job k of N`, the time since the sweep started and an estimate of the time left (the mean
    time of the jobs done so far, times the jobs to go), one line as each job starts."""

    def __init__(self, total: int, quiet: bool = False, clock: Callable[[], float] = time.monotonic):
        self.total, self.quiet, self.clock = total, quiet, clock
        self.started = clock()
        self.done = 0

    def line(self, count: int = 1) -> str:
        first, last = self.done + 1, min(self.done + count, self.total)
        jobs = f"job {first} of {self.total}" if first == last else f"jobs {first}-{last} of {self.total}"
        elapsed = self.clock() - self.started
        if self.done == 0:
            left = "time left known after the first job"
        else:
            left = f"~{duration(elapsed / self.done * (self.total - self.done))} left"
        return f"{jobs} · {duration(elapsed)} elapsed · {left}"

    def start(self, count: int = 1) -> None:
        """Print the line for the next `count` jobs (a container that runs several) and count them as begun."""
        if not self.quiet and self.total > 1:
            console().print(f"[bold cyan]llem sweep[/bold cyan] {self.line(count)}")
            sys.stderr.flush()
        self.done += count

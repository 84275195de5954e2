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

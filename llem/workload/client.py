"""Driving a load: one client process (llem/workload/loadgen.py) or, past what one core takes in,
several (llem/workload/shards.py), chosen by LoadSettings.processes."""

from __future__ import annotations

import asyncio
from typing import Callable

from llem.workload.loadgen import LoadRun, LoadSettings, RequestInput, run_async
from llem.workload.shards import run_sharded


def run_load(
    base_url: str,
    model: str,
    inputs: list[RequestInput],
    load: LoadSettings,
    on_steady_open: Callable[[], None] = lambda: None,
    on_steady_close: Callable[[], None] = lambda: None,
    on_start: Callable[[], None] = lambda: None,
) -> LoadRun:
    """Send every input once. `on_start` runs just before the first request may go out (after the client
    processes have started, when sharded: the whole-run window's edge); the other callbacks at the steady-state
    edges (in the event loop, or, with load.processes > 1, in this process as the shards report their sends
    and completions)."""
    if load.processes > 1:
        return run_sharded(base_url, model, inputs, load, on_steady_open, on_steady_close, on_start)
    return asyncio.run(run_async(base_url, model, inputs, load, on_steady_open, on_steady_close, on_start=on_start))

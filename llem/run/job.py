"""One job inside the measurement worker: set up its context once, choose the harness for its
mode once (offline: the engine in this process; server: its OpenAI-compatible server under load),
and return the typed Measured record."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llem.harness.offline import measure_offline
from llem.harness.steps import Progress, job_context
from llem.results.measured import Measured
from llem.harness.server import measure_server
from llem.harness.warm import WarmEngines


def measure(spec, run_dir: Path, progress: Optional[Progress] = None, warm: Optional[WarmEngines] = None) -> Measured:
    """Measure one JobSpec. `warm` lets a sweep's worker keep the loaded engine (or the running
    server) for its next job of the same engine configuration (llem/harness/warm.py)."""
    harness = measure_server if spec.workload.mode == "server" else measure_offline
    with job_context(spec, run_dir, progress, warm) as ctx:
        measured = harness(ctx)
    measured.gpu_settings = ctx.gpu_settings  # read after the block: it says whether they were restored
    return measured

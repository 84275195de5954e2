"""Where llem keeps things on disk, and what each file is called: the one owner of these names.

A job's run directory is <run.output_root>/runs/<run_id>/; a sweep's bookkeeping lives in Hydra's
sweep directory. Every module that reads or writes one of these files takes its name from here.
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS = "runs"  # under run.output_root: one folder per job configuration (its run id)

# A run directory's files.
RESULT = "result.json"  # written last: its presence (status ok) marks a complete job
FAILURE = "failure.json"
INTERRUPTED = "interrupted.json"  # the job was stopped by a signal; never a complete result
TRACEBACK = "traceback.txt"
CONFIG = "config.yaml"  # the job's resolved config
ENVIRONMENT = "environment.json"
SERVER = "server.json"  # server mode: the server's command, pid and url
SERVER_LOG = "server.log"
TRACKING_MARKER = "tracking.json"  # whether the run's record reached the tracker (llem sync)
TIMESERIES = "timeseries.csv"  # the sampler's power/temperature series
PLOTS = "plots"
POWER_PLOT = f"{PLOTS}/power_timeseries.png"
RECORDS = (RESULT, FAILURE)  # what a finished job leaves: one of these

# A sweep directory's files (Hydra's sweep dir).
SWEEP_FILE = "llem_sweep.json"
SWEEP_SUMMARY = "llem_sweep_summary.json"
SWEEP_OUTCOMES = "llem_sweep_outcomes.jsonl"  # jobs' outcomes under another sweeper than llem's (llem.sweep.state)
HYDRA_JOB_CONFIG = ".hydra/config.yaml"  # Hydra saves each job's config here, under <sweep_dir>/<job>/
DOCKER_LOG = "docker.log"  # in a job's folder: the output of the container that ran it


def runs_dir(output_root) -> Path:
    return Path(output_root) / RUNS


def run_dir(output_root, run_id: str) -> Path:
    return runs_dir(output_root) / run_id


def spec_run_dir(spec) -> Path:
    """The run directory of a JobSpec."""
    return run_dir(spec.run.output_root, spec.run_id())


def cache_dir() -> Path:
    """Where llem keeps converted and generated models between runs."""
    root = os.environ.get("LLEM_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llem"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path

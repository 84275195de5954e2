"""Sweep bookkeeping shared by the launcher process and the jobs, which may run in other
processes, on other Slurm nodes or in containers. A job finds its sweep (and the sweep's parent
MLflow run) from environment variables first, then from the sweep file in the sweep directory.

Launchers that start jobs elsewhere must pass these variables through (and share the sweep dir
and output root at the same paths, or pass only the variables).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Optional

from llem.paths import SWEEP_FILE, SWEEP_OUTCOMES
from llem.results.io import read_json, write_json

ENV_SWEEP_ID = "LLEM_SWEEP_ID"
ENV_SWEEP_DIR = "LLEM_SWEEP_DIR"
ENV_PARENT_RUN_ID = "LLEM_MLFLOW_PARENT_RUN_ID"
ENV_VARS = (ENV_SWEEP_ID, ENV_SWEEP_DIR, ENV_PARENT_RUN_ID)

# llem's sweeper (launchers/hydra_plugins/llem_launchers/grid_sweeper.py): it opens and ends its
# sweeps itself and hands the jobs' outcomes on as values; under any other sweeper llem's callback
# opens and ends the sweep, and llem's launchers keep the outcomes in the sweep dir (add_outcomes).
LLEM_SWEEPER = "hydra_plugins.llem_launchers.grid_sweeper.GridSweeper"


def llem_sweeper(config) -> bool:
    from omegaconf import OmegaConf

    return str(OmegaConf.select(config, "hydra.sweeper._target_", default="") or "") == LLEM_SWEEPER


def new_sweep(sweep_dir: Path, overrides: list[str]) -> dict:
    sweep_dir = Path(sweep_dir).resolve()
    return {
        "sweep_id": uuid.uuid4().hex[:16],
        "name": sweep_dir.name,
        "dir": str(sweep_dir),
        "started_unix_s": time.time(),
        "overrides": list(overrides),
        "mlflow": None,
    }


def write_sweep(sweep: dict) -> None:
    write_json(Path(sweep["dir"]) / SWEEP_FILE, sweep)


def read_sweep(sweep_dir) -> Optional[dict]:
    path = Path(sweep_dir) / SWEEP_FILE
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def export_env(sweep: dict) -> None:
    """Make the sweep known to jobs started from this process (basic, submitit, Slurm inherit it)."""
    os.environ[ENV_SWEEP_ID] = sweep["sweep_id"]
    os.environ[ENV_SWEEP_DIR] = sweep["dir"]
    parent = (sweep.get("mlflow") or {}).get("parent_run_id")
    if parent:
        os.environ[ENV_PARENT_RUN_ID] = parent
    else:
        os.environ.pop(ENV_PARENT_RUN_ID, None)


def current_sweep() -> Optional[dict]:
    """The sweep this job belongs to: {'sweep_id', 'name', 'dir', 'parent_run_id'}, or None."""
    sweep_dir = os.environ.get(ENV_SWEEP_DIR)
    from_file = read_sweep(sweep_dir) if sweep_dir else None
    sweep_id = os.environ.get(ENV_SWEEP_ID) or (from_file or {}).get("sweep_id")
    if not sweep_id:
        return None
    if from_file and from_file.get("sweep_id") != sweep_id:
        from_file = None  # a stale directory from another sweep: trust the environment
    parent = os.environ.get(ENV_PARENT_RUN_ID) or ((from_file or {}).get("mlflow") or {}).get("parent_run_id")
    name = (from_file or {}).get("name") or (Path(sweep_dir).name if sweep_dir else sweep_id)
    return {"sweep_id": sweep_id, "name": name, "dir": sweep_dir, "parent_run_id": parent}


def add_outcomes(sweep_dir, outcomes: list) -> None:
    """Keep the outcomes of a batch that another sweeper (Optuna) launched: Hydra hands a sweeper's
    job returns to no one else, and the sweep's end counts them (llem's own sweeper passes them on
    as values instead). One JSON line each."""
    import dataclasses
    import json

    if not outcomes:
        return
    with open(Path(sweep_dir) / SWEEP_OUTCOMES, "a", encoding="utf-8") as f:
        for o in outcomes:
            f.write(json.dumps(dataclasses.asdict(o)) + "\n")


def read_outcomes(sweep_dir) -> list[dict]:
    import json

    try:
        lines = (Path(sweep_dir) / SWEEP_OUTCOMES).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut short by a full disk
            pass
    return out

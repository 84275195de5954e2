"""<run_dir>/tracking.json: whether a run's record reached the tracker, so `llem sync` can catch up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from llem.paths import TRACKING_MARKER as MARKER
from llem.results.io import read_json, write_json


def write_marker(
    run_dir: Path,
    *,
    synced: bool,
    uri: str,
    experiment: str,
    measurement: str,
    sweep: Optional[dict],
    mlflow_run_id: Optional[str] = None,
    error: Optional[str] = None,
) -> None:

    write_json(
        Path(run_dir) / MARKER,
        {
            "tracker": "mlflow",
            "synced": synced,
            "uri": uri,
            "experiment": experiment,
            "measurement_id": measurement,
            "mlflow_run_id": mlflow_run_id,
            "sweep": sweep,
            "error": error,
            "attempted_unix_s": time.time(),
        },
    )


def read_marker(run_dir: Path) -> Optional[dict]:
    try:
        return read_json(Path(run_dir) / MARKER)
    except (OSError, ValueError):
        return None

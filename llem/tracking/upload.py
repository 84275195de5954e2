"""Log one run directory to MLflow and record the outcome in its tracking marker.

Used right after a job (track) and later by `llem sync`: the same code path, so a run uploaded
late looks exactly like one uploaded on time. The files uploaded are those in the run dir (the
power plot is made before, by whoever calls: llem.report.timeseries.power_plot)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llem.paths import ENVIRONMENT
from llem.results.io import read_json
from llem.tracking.marker import write_marker
from llem.tracking.mlflow_store import TrackerUnavailable, connect, experiment_id, upload
from llem.tracking.payload import measurement_id


def _environment(run_dir: Path) -> Optional[dict]:
    try:
        return read_json(run_dir / ENVIRONMENT)
    except (OSError, ValueError):
        return None


def log_run(
    run_dir: Path, record: dict, uri: str, experiment: str, sweep: Optional[dict], timeout_s: float = 10.0, artifacts: bool = True
) -> tuple[str, bool]:
    """Upload the run; (mlflow run id, created). On failure: marker says unsynced, TrackerUnavailable."""
    run_dir = Path(run_dir)
    mid = measurement_id(record)
    try:
        client = connect(uri, timeout_s)
        exp = experiment_id(client, experiment)
        run_id, created = upload(client, exp, run_dir, record, sweep, artifacts, _environment(run_dir))
    except Exception as exc:
        reason = str(exc) if isinstance(exc, TrackerUnavailable) else f"{type(exc).__name__}: {exc}"
        write_marker(run_dir, synced=False, uri=uri, experiment=experiment, measurement=mid, sweep=sweep, error=reason)
        raise TrackerUnavailable(reason) from None
    write_marker(run_dir, synced=True, uri=uri, experiment=experiment, measurement=mid, sweep=sweep, mlflow_run_id=run_id)
    return run_id, created

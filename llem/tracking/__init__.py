"""Experiment tracking. track() is called once per job after its files are on disk.

tracking=mlflow (the default) logs one MLflow run per job, nested under the sweep's parent run
that the caller names (llem.sweep opens it); tracking=none turns it off. Tracking only logs what it
is given (records and files on disk, the sweep's parent run): it knows nothing of sweeps' lifecycle,
jobs' specs or reports. A tracker that cannot be reached never costs a measurement: the run is
marked unsynced and `llem sync` uploads it later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from llem.host.progress import console
from llem.tracking.marker import write_marker
from llem.tracking.payload import measurement_id
from llem.tracking.settings import check_tracking as check, mlflow_settings
from llem.tracking.upload import log_run

# Set by launchers whose jobs run where the tracking store is out of reach (a container without
# network or without the SQLite file mounted): the job only marks its run unsynced, and the sweep's
# end (in the launching process) or `llem sync` uploads it.
DEFER_ENV = "LLEM_TRACKING_DEFER"


def check_tracking(tracking) -> None:
    """Validation hook (before any model loads): UserError with one sentence for bad settings."""
    check(tracking)


def uploads_artifacts(tracking) -> bool:
    """Whether this tracking group uploads a run's files (and so wants its power plot made first)."""
    name = tracking.name if hasattr(tracking, "name") else tracking.get("name", "none")
    if name != "mlflow":
        return False
    data = tracking.model_dump() if hasattr(tracking, "model_dump") else dict(tracking)
    return bool(data.get("artifacts", True))


def track(spec, run_dir, record: dict, sweep: Optional[dict] = None) -> None:
    """Log one job's record (a result or a failure) to the configured tracker; never raises.

    sweep: the sweep the job belongs to ({'sweep_id', 'name', 'dir', 'parent_run_id'}), or None."""
    if spec.tracking.name == "none":
        return
    try:
        settings = mlflow_settings(spec.tracking)
        uri = settings.resolved_uri()
        if os.environ.get(DEFER_ENV) == "1":
            _defer(spec, run_dir, record, settings, uri, sweep)
            return
        mlflow_id, _ = log_run(Path(run_dir), record, uri, settings.experiment, sweep, settings.timeout_s, settings.artifacts)
    except Exception as exc:  # tracking must never turn a measurement into a failure
        console().print(
            f"[yellow]llem: warning:[/yellow] the run was not logged to MLflow ({exc}). "
            f"It is saved in {run_dir}; upload it later with: llem sync {spec.run.output_root}"
        )
        return
    if not spec.run.quiet:
        console().print(f"[dim]llem: logged to MLflow run {mlflow_id} ({uri}, experiment {settings.experiment})[/dim]")


def _defer(spec, run_dir, record: dict, settings, uri: str, sweep: Optional[dict]) -> None:
    write_marker(
        Path(run_dir),
        synced=False,
        uri=uri,
        experiment=settings.experiment,
        measurement=measurement_id(record),
        sweep=sweep,
        error=f"deferred ({DEFER_ENV}=1): uploaded when the sweep ends or by llem sync",
    )
    if not spec.run.quiet:
        console().print(f"[dim]llem: MLflow logging deferred ({DEFER_ENV}=1); the sweep uploads it when it ends[/dim]")

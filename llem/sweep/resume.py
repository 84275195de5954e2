"""Jobs with nothing left to do: those whose complete result is already on disk
(llem.results.complete). The job itself asks this before measuring (llem.cli.app), and llem's
launchers ask it for every point before starting anything, so that resuming a finished sweep starts
no job process, container or Slurm job; either way the job is counted as skipped, and its tracker
run is left as it is."""

from __future__ import annotations

from typing import Optional

from llem.config.spec import build_spec
from llem.errors import UserError
from llem.host.progress import console
from llem.paths import spec_run_dir
from llem.results.complete import result_to_keep
from llem.results.objective import objective_result
from llem.sweep.ledger import Outcome


def _on_disk(spec, status: str, message: Optional[str] = None) -> Optional[Outcome]:
    """An outcome for a job whose complete result is on disk (with its sweeper value), or None."""
    done = result_to_keep(spec)
    if done is None:
        return None
    return Outcome(
        status,
        str(spec_run_dir(spec)),
        message=message,
        headline=objective_result(spec.run.objective, spec.run.max_latency_s, done["metrics"]),
    )


def skipped(spec) -> Optional[Outcome]:
    """The outcome of a job whose complete result is on disk (skipped, with its sweeper value), or None."""
    outcome = _on_disk(spec, "skipped")
    if outcome is not None and not spec.run.quiet:
        console().print(f"[green]llem[/green] skipping {spec.run_id()}: a complete result exists (run.force=true re-measures)")
    return outcome


def _spec_of(job: dict):
    """The job's spec; None for an invalid one (the job reports that itself)."""
    try:
        return build_spec(job)
    except UserError:
        return None


def finished_job(job: dict) -> Optional[Outcome]:
    """A job a signal caught after its result was complete on disk (between the end of its measurement and
    the return of its outcome): measured, not "not started". None where no complete result is there."""
    spec = _spec_of(job)
    return None if spec is None else _on_disk(spec, "ok", "its result was complete when the signal came")


def skipped_job(job: dict) -> Optional[Outcome]:
    """skipped() for a job's plain config; None also for an invalid one."""
    spec = _spec_of(job)
    return None if spec is None else skipped(spec)

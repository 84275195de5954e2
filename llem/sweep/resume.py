"""Jobs with nothing left to do: those whose complete result is already on disk
(llem.results.complete). The job itself asks this before measuring (llem.app), and llem's
launchers ask it for every point before starting anything, so that resuming a finished sweep starts
no job process, container or Slurm job; either way the job is counted as skipped, and its tracker
run is left as it is."""

from __future__ import annotations

from typing import Optional

from llem.errors import UserError
from llem.objective import objective_result
from llem.paths import spec_run_dir
from llem.progress import console
from llem.results.complete import result_to_keep
from llem.spec import build_spec
from llem.sweep.ledger import Outcome


def skipped(spec) -> Optional[Outcome]:
    """The outcome of a job whose complete result is on disk (skipped, with its sweeper value), or None."""
    done = result_to_keep(spec)
    if done is None:
        return None
    if not spec.run.quiet:
        console().print(f"[green]llem[/green] skipping {spec.run_id()}: a complete result exists (run.force=true re-measures)")
    return Outcome("skipped", str(spec_run_dir(spec)),
                   headline=objective_result(spec.run.objective, spec.run.max_latency_s, done["metrics"]))


def finished_job(job: dict) -> Optional[Outcome]:
    """A job a signal caught after its result was complete on disk (between the end of its measurement and
    the return of its outcome): measured, not "not started". None where no complete result is there."""
    try:
        spec = build_spec(job)
    except UserError:
        return None
    done = result_to_keep(spec)
    if done is None:
        return None
    return Outcome("ok", str(spec_run_dir(spec)), message="its result was complete when the signal came",
                   headline=objective_result(spec.run.objective, spec.run.max_latency_s, done["metrics"]))


def skipped_job(job: dict) -> Optional[Outcome]:
    """skipped() for a job's plain config; None also for an invalid one (the job reports that itself)."""
    try:
        spec = build_spec(job)
    except UserError:
        return None
    return skipped(spec)

"""One job, from a composed config to a result on disk. The only module that sees Hydra's config,
and only to turn it into a plain dict at once."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import hydra

from llem import paths
from llem.errors import UserError
from llem.host.interrupt import Interrupted, signal_name
from llem.results.objective import objective_result
from llem.host.progress import console
from llem.report.timeseries import power_plot
from llem.config.resolvers import register as _register_resolvers
from llem.results.complete import complete_result, read_result, set_aside
from llem.results.interrupted import interrupted_record
from llem.results.io import atomic_write_text, write_json
from llem.results.lock import LOCK_FILE, run_dir_lock
from llem.results.measured import Measured
from llem.results.render import render
from llem.results.schema import assemble, failure
from llem.run.worker import JobFailed, run_isolated
from llem.config.spec import build_spec
from llem.sweep.ledger import Outcome
from llem.sweep.resume import skipped
from llem.sweep.state import current_sweep
from llem.tracking import track, uploads_artifacts
from llem.tracking.settings import mlflow_settings
from llem.config.validate import plain_config
from llem.workload.server_checks import not_applied

_register_resolvers()  # job processes (submitit, Slurm, Docker) resolve Hydra's dirs again


def run_config(container: dict, resolved_yaml: str) -> Outcome:
    """Validate, measure in isolation, write the run directory; never raises for a job failure."""
    try:
        spec = build_spec(container)
    except UserError as exc:
        console().print(f"[red]llem: error:[/red] {exc}")
        return Outcome("invalid", message=str(exc), user_error=True)
    run_dir = paths.spec_run_dir(spec)
    begun = time.time()
    try:
        return _measure_and_write(spec, run_dir, resolved_yaml)
    except Interrupted as stopped:  # stopped outside the measurement: say what the run dir holds
        stopped.outcome = stopped.outcome or _outcome_on_disk(spec, run_dir, begun)
        raise
    except _WriteFailed as failed:  # a full disk or a file-size limit: one sentence, nothing on disk changed
        message = (
            f"could not write {failed.path} ({failed.reason}): free space or set run.output_root to another "
            f"directory; results already on disk were left as they were and this job left no record there"
        )
        console().print(f"[red]llem: error:[/red] job {spec.run_id()}: {message}")
        return Outcome("failed", str(run_dir), message=message)


class _WriteFailed(Exception):
    def __init__(self, path: Path, exc: OSError):
        super().__init__(str(exc))
        self.path, self.reason = path, exc.strerror or str(exc)


def _write(path: Path, write, *args) -> None:
    """Write one run-directory file atomically; an OSError (disk full, quota, size limit) becomes _WriteFailed."""
    try:
        write(path, *args)
    except OSError as exc:
        raise _WriteFailed(path, exc) from exc


def _measure_and_write(spec, run_dir: Path, resolved_yaml: str) -> Outcome:
    quiet = spec.run.quiet
    done = skipped(spec)  # the rule llem's launchers also apply before starting a job (llem.sweep.resume)
    if done is not None:
        return done

    def waiting(holder: str) -> None:
        if not quiet:
            console().print(
                f"[yellow]llem:[/yellow] {spec.run_id()} is being measured by {holder} "
                f"({run_dir / LOCK_FILE}); waiting for it instead of measuring it twice"
            )

    with ExitStack() as held:  # one job measures a run dir at a time (llem/results/lock.py)
        try:
            waited = held.enter_context(run_dir_lock(run_dir, waiting))
        except OSError as exc:
            raise _WriteFailed(run_dir, exc) from exc
        if waited:  # the other job may have left a complete result: then it is this job's too
            done = skipped(spec)
            if done is not None:
                return done
        return _measure_locked(spec, run_dir, resolved_yaml)


def _measure_locked(spec, run_dir: Path, resolved_yaml: str) -> Outcome:
    quiet = spec.run.quiet
    try:
        _set_aside_incomplete(run_dir, quiet)
    except OSError as exc:
        raise _WriteFailed(run_dir, exc) from exc
    _write(run_dir / paths.CONFIG, atomic_write_text, resolved_yaml)
    for stale in (paths.FAILURE, paths.TRACEBACK, paths.INTERRUPTED):
        (run_dir / stale).unlink(missing_ok=True)
    started = time.time()
    try:
        out = run_isolated(spec, run_dir, quiet)
    except Interrupted as stopped:
        _record_interrupted(spec, run_dir, stopped, started)
        raise
    except JobFailed as failed:
        err = dict(failed.error)
        tb = err.pop("traceback", None)
        if tb:
            _write(run_dir / paths.TRACEBACK, atomic_write_text, tb)
            err["traceback_file"] = paths.TRACEBACK
        record = failure(spec.to_dict(), spec.run_id(), spec.config_hash(), err, started)
        _write(run_dir / paths.FAILURE, write_json, record)
        if err.get("user_error"):
            console().print(f"[red]llem: error:[/red] {err['message']} [dim](job {spec.run_id()}; record in {run_dir})[/dim]")
        else:
            console().print(
                f"[red]llem: job {spec.run_id()} failed:[/red] {err['type']}: {err['message']} [dim](details in {run_dir})[/dim]"
            )
        track(spec, run_dir, record, current_sweep())
        return Outcome("failed", str(run_dir), message=err["message"], user_error=err.get("user_error", False))

    result = assemble(spec, Measured.from_dict(out["measured"]), out["environment"], started)
    ignored = not_applied(spec)  # server-only settings an offline point of an offline+server sweep ignored
    if ignored:
        result["settings_not_applied"] = ignored
    _write(run_dir / paths.ENVIRONMENT, write_json, out["environment"])
    _write(run_dir / paths.RESULT, write_json, result)  # written last: its presence marks a complete job
    if not quiet:
        render(result, run_dir)
    _plot_for_upload(spec, run_dir, result)
    sweep = current_sweep()
    track(spec, run_dir, result, sweep)
    if not quiet and sweep is None:  # a sweep prints its own summary and next step
        console().print(next_line(spec), overflow="ignore", crop=False)
    return Outcome("ok", str(run_dir), headline=_objective(spec, result["metrics"]))


def next_line(spec) -> str:
    """What to do with a run just measured: its report, and its MLflow UI where it was logged."""
    line = f"[bold]next:[/bold] llem report {spec.run.output_root}"
    if spec.tracking.name == "mlflow":
        line += f"   |   mlflow ui --backend-store-uri {mlflow_settings(spec.tracking).resolved_uri()}"
    return line


def _set_aside_incomplete(run_dir: Path, quiet: bool) -> None:
    """A result.json that does not validate (hollow, edited, its config.yaml gone) is renamed beside
    it, never deleted, before this job measures again."""
    _, problem = read_result(run_dir)
    if problem is None:
        return
    kept = set_aside(run_dir)
    if kept is not None and not quiet:
        console().print(
            f"[yellow]llem:[/yellow] {run_dir / paths.RESULT} is not a complete result ({problem}): "
            f"kept as {kept.name}, measuring again"
        )


def _outcome_on_disk(spec, run_dir: Path, begun: float) -> Optional[Outcome]:
    """A signal that came after the job wrote its result (while printing or uploading) or before it
    began leaves a complete result or none; only a result counts."""
    done = complete_result(run_dir)
    if done is None:
        return None
    measured = (done.get("identity") or {}).get("finished_unix_s", 0) >= begun
    return Outcome("ok" if measured else "skipped", str(run_dir), headline=_objective(spec, done["metrics"]))


def _record_interrupted(spec, run_dir: Path, stopped: Interrupted, started: float) -> None:
    """A signal stopped the job: interrupted.json (what was measured, never a result), the tracker's
    run ends KILLED, and the outcome rides on the exception up to the sweep (llem/host/interrupt.py)."""
    record = interrupted_record(
        spec.to_dict(), spec.run_id(), spec.config_hash(), stopped.signum, stopped.partial, started, spec.run.repeats
    )
    try:
        write_json(run_dir / paths.INTERRUPTED, record)
    except OSError:
        pass  # the outcome below still says so, and no result was written
    message = record["error"]["message"]
    console().print(f"[yellow]llem: job {spec.run_id()} {message}[/yellow] [dim]({run_dir})[/dim]")
    track(spec, run_dir, record, current_sweep())
    stopped.outcome = Outcome("interrupted", str(run_dir), message=message)


def _plot_for_upload(spec, run_dir: Path, result: dict) -> None:
    """The power plot goes up with the run's files: made here, before tracking uploads them."""
    if uploads_artifacts(spec.tracking):
        power_plot(result, run_dir)


def _objective(spec, metrics: dict):
    return objective_result(spec.run.objective, spec.run.max_latency_s, metrics)


def _sweep_job() -> Optional[str]:
    """This job's dir relative to Hydra's sweep dir ("3"), which the sweep summary names jobs by; None outside a sweep."""
    import os

    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode != RunMode.MULTIRUN:
            return None
        job = os.path.relpath(Path(str(hc.runtime.output_dir)).resolve(), Path(str(hc.sweep.dir)).resolve())
    except Exception:
        return None
    return None if job.startswith("..") else job


def run_from_hydra(cfg) -> Outcome:
    """Hydra's task function: one job, from its composed config to its Outcome (which an optimising
    sweeper reads as run.objective's value: Outcome.__float__). A signal (llem/host/interrupt.py) is
    recorded as this job's outcome, which rides on the Interrupted up to the sweep: it stops."""
    from omegaconf import OmegaConf

    try:
        container = plain_config(cfg)
        outcome = run_config(container, OmegaConf.to_yaml(cfg, resolve=True))
    except UserError as exc:
        console().print(f"[red]llem: error:[/red] {exc}")
        outcome = Outcome("invalid", message=str(exc), user_error=True)
    except Interrupted as stopped:
        stopped.outcome = _stopped_outcome(stopped)
        stopped.outcome.job = _sweep_job()
        raise
    outcome.job = _sweep_job()
    return outcome


def _stopped_outcome(stopped: Interrupted) -> Outcome:
    return stopped.outcome or Outcome("not_started", message=f"stopped by {signal_name(stopped.signum)} before it started")


@hydra.main(version_base=None, config_path="pkg://llem.conf", config_name="config")
def main(cfg) -> Outcome:
    """`python -m llem [overrides]` once llem.cli has answered what needs no Hydra (--help,
    --version, subcommands). Hydra composes the config, llem's callback (conf/config.yaml) checks a
    single run before its run dir is made and sets the exit status, llem's sweeper checks every
    point of a --multirun before the first job (launchers/hydra_plugins/llem_launchers/)."""
    return run_from_hydra(cfg)

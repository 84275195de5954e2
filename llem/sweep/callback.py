"""A sweep's start and end, and Hydra's callback (hydra.callbacks in conf/config.yaml) around runs.

- open_sweep (launcher process, once every point is validated): write the sweep file, open the
  sweep's parent MLflow run, export the sweep to the environment for jobs started from here;
- end_sweep (launcher process): stop the warm measurement worker, count measured / skipped / failed
  jobs from the run dirs and the jobs' Outcomes, write llem_sweep_summary.json, print the summary
  and close the parent run. llem's sweeper calls both itself (it holds the outcomes, as the jobs'
  return values); with another sweeper (Optuna) the callback calls them from on_multirun_start /
  on_multirun_end, counting from disk and the outcomes llem's launchers kept in the sweep dir
  (llem.sweep.state.add_outcomes). A sweep a signal stopped is ended by llem.cli
  (end_open_sweep), with the outcomes carried on the Interrupted.

The callback:
- on_run_start (a single run): validate the job before Hydra makes its run dir: one sentence, exit 2;
- on_run_end (a single run): stop the warm measurement worker, exit with the job's status;
- on_job_start (the job's process, wherever it runs): adopt the sweep from the sweep file;
- on_multirun_end: exit with the status the sweep's summary gives (non-zero when a job failed).
Hydra hands no return value back to its caller, so the exit status leaves it as SystemExit, raised
last (Hydra calls the callbacks' end hooks in reverse order; llem's is the first configured).

llem's own modules are imported at the top (cheap; mlflow is imported only inside llem.tracking's functions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

from llem.config.validate import check_job
from llem.errors import UserError
from llem.host.interrupt import signal_name
from llem.host.progress import console
from llem.paths import RESULT, SWEEP_SUMMARY
from llem.results.comparison import choice_comparison, choice_lines
from llem.results.io import read_json, write_json
from llem.results.objective import best_result
from llem.run.worker import close_warm_worker
from llem.sweep import state as sw
from llem.sweep.concurrency import measured_results, overlap_lines, window_overlaps
from llem.sweep.ledger import Outcome, exit_status, outcome_from
from llem.sweep.points import task_job
from llem.sweep.summary import NO_RESULT, summarize_sweep, summary_line
from llem.tracking.mlflow_store import connect, ensure_parent, experiment_id, finish_parent
from llem.tracking.settings import mlflow_settings
from llem.tracking.sync import pending, sync_runs
from llem.tracking.urls import sweep_links  # cheap (no mlflow): the links a sweep's end prints

try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a core dependency
    Callback = object


def _tracking(config) -> dict:
    from omegaconf import OmegaConf

    node = config.get("tracking") if hasattr(config, "get") else None
    return OmegaConf.to_container(node, resolve=True) if node is not None else {"name": "none"}


def _objective(config):
    """The metric the sweep minimises (run.objective; its first choice): the runs table's sort key."""
    run = config.get("run") if hasattr(config, "get") else None
    objective = str(run.get("objective") or "") if run is not None else ""
    return objective.split("|")[0].strip() or None


def _optimiser_choice(sweep: dict, summary: dict) -> list[str]:
    """An optimising sweeper's (Optuna's) best trial by run.objective, and whether its comparison with the
    other trials of the sweep is like for like (llem/results/comparison.py); nothing for other sweepers."""
    if "optuna" not in str(sweep.get("sweeper") or "").lower():
        return []
    results, seen = [], set()
    for job in summary.get("jobs") or []:  # measured or found complete (a trial Optuna asked for again)
        if job.get("run_dir") and job.get("status") in ("measured", "skipped") and job["run_dir"] not in seen:
            seen.add(job["run_dir"])
            try:
                results.append(read_json(Path(job["run_dir"]) / RESULT))
            except (OSError, ValueError):
                pass
    best = best_result(results, str(sweep.get("run_objective") or ""), sweep.get("max_latency_s"))
    if best is None:
        return []
    name = (best.get("identity") or {}).get("run_id")
    return choice_lines(choice_comparison(best, results), f"the sweeper's best trial by run.objective ({name})")


def _llem_sweeper(config) -> bool:
    return sw.llem_sweeper(config)


def open_sweep(config) -> dict:
    """The sweep begins: its file in the sweep dir, its parent MLflow run, its environment for jobs."""
    sweep = sw.new_sweep(Path(str(config.hydra.sweep.dir)), list(config.hydra.overrides.task))
    sweep["objective"] = _objective(config)
    # what the end needs to name an optimising sweeper's best trial (its comparison: llem/results/comparison.py)
    hydra = config.get("hydra") if hasattr(config, "get") else None
    run = config.get("run") if hasattr(config, "get") else None
    sweep["sweeper"] = str(((hydra or {}).get("sweeper") or {}).get("_target_") or "")
    sweep["run_objective"] = str((run or {}).get("objective") or "")
    sweep["max_latency_s"] = (run or {}).get("max_latency_s")
    Path(sweep["dir"]).mkdir(parents=True, exist_ok=True)
    tracking = _tracking(config)
    if tracking.get("name") == "mlflow":
        sweep["mlflow"] = _open_parent(sweep, tracking)
        if not sweep["mlflow"]["synced"]:
            console().print(
                f"[yellow]llem: warning:[/yellow] MLflow is unreachable ({sweep['mlflow']['error']}); "
                f"measurements are kept on disk and `llem sync` uploads them later."
            )
    sw.write_sweep(sweep)
    sw.export_env(sweep)
    return sweep


def end_sweep(config, outcomes: Sequence[Outcome] = ()) -> dict:
    """The sweep ends: its summary (written and printed) from the run dirs and the jobs' outcomes."""
    return _end(Path(str(config.hydra.sweep.dir)), outcomes, None)


def end_open_sweep(signum: int, outcomes: Sequence[Outcome] = ()) -> Optional[dict]:
    """A signal stopped the sweep this process runs before it ended: count, summarise and close it as
    its end would. None when no sweep is open here (a single run, or the sweep had ended)."""
    sweep_dir = os.environ.get(sw.ENV_SWEEP_DIR)
    return _end(Path(sweep_dir), outcomes, signum) if sweep_dir else None


def sweep_exit_status(summary: Optional[dict]) -> int:
    """1 when a job of the sweep did not end measured or skipped (or its summary is missing), else 0."""
    counts = (summary or {}).get("counts")
    if not counts:
        return 1
    return 1 if any(counts.get(s) for s in NO_RESULT) else 0


def _end(sweep_dir: Path, outcomes: Sequence[Outcome], interrupted_by: Optional[int]) -> dict:
    close_warm_worker()  # first: no engine stays loaded while the summary and uploads run
    sweep = sw.read_sweep(sweep_dir) or sw.new_sweep(sweep_dir, [])
    outcomes = [outcome_from(o) for o in sw.read_outcomes(sweep_dir)] + list(outcomes)  # another sweeper's batches
    summary = summarize_sweep(sweep_dir, sweep["started_unix_s"], outcomes)
    summary["sweep_id"] = sweep["sweep_id"]
    summary["concurrent_windows"] = window_overlaps(measured_results(summary))  # parallel jobs (llem/sweep/concurrency.py)
    for line in overlap_lines(summary["concurrent_windows"]):
        console().print(f"llem: {line}", markup=False)
    console().print(f"[bold]llem sweep summary:[/bold] {summary_line(summary['counts'])}  [dim]({sweep_dir})[/dim]")
    for job in summary["jobs"]:
        if job["status"] in ("failed", "incomplete", "invalid", "interrupted"):
            name = f"job {job['job']}" if job.get("job") is not None else "a job"
            console().print(f"  [red]{job['status']}[/red] {name} {job.get('run_id') or ''}: {job.get('message')}")
    try:
        write_json(sweep_dir / SWEEP_SUMMARY, summary)
    except OSError as exc:  # the disk that failed a job may not take the summary either
        console().print(
            f"[yellow]llem: warning:[/yellow] the sweep summary could not be written to "
            f"{sweep_dir / SWEEP_SUMMARY} ({exc.strerror or exc}); it is printed above."
        )
    for line in _optimiser_choice(sweep, summary):
        console().print(f"llem: {line}", markup=False)
    _catch_up(summary)
    _close_parent(sweep, summary["counts"], interrupted_by)
    for line in sweep_links(sweep, summary, sweep.get("objective")):
        console().print(f"llem: MLflow {line}", markup=False)
    for var in sw.ENV_VARS:
        os.environ.pop(var, None)
    return summary


def _open_parent(sweep: dict, tracking: dict) -> dict:
    settings = mlflow_settings(tracking)
    uri = settings.resolved_uri()
    state = {"uri": uri, "experiment": settings.experiment, "parent_run_id": None, "synced": False, "error": None}
    try:
        client = connect(uri, settings.timeout_s)
        exp = experiment_id(client, settings.experiment)
        state.update(parent_run_id=ensure_parent(client, exp, sweep, sweep["overrides"]), experiment_id=exp, synced=True)
    except Exception as exc:  # an unreachable tracker never stops a sweep
        state["error"] = str(exc)
    return state


def _catch_up(summary: dict) -> None:
    """Upload, from here, the runs its jobs could not log (deferred in containers, store down)."""
    items = pending(list(dict.fromkeys(j["run_dir"] for j in summary["jobs"] if j.get("run_dir") and j["status"] != "skipped")))
    if not items:
        return
    c = sync_runs(items)["counts"]
    if c["uploaded"] or c["already_in_mlflow"]:
        console().print(f"llem: uploaded {c['uploaded']} run(s) to MLflow that their jobs could not log")
    if c["failed"]:
        console().print(
            f"[yellow]llem: warning:[/yellow] {c['failed']} run(s) of this sweep are not in MLflow yet: "
            f"they are saved on disk; upload them later with: llem sync <run.output_root>"
        )


def _close_parent(sweep: dict, counts: dict, interrupted_by=None) -> None:
    state = sweep.get("mlflow") or {}
    if not state.get("parent_run_id"):
        return
    note = None
    if interrupted_by is not None:  # the parent says how far the sweep got
        done = sum(counts.get(k, 0) for k in ("measured", "skipped", "failed", "invalid"))
        note = f"stopped by {signal_name(interrupted_by)} after {done} of {sum(counts.values())} job(s): {summary_line(counts)}"
    try:
        finish_parent(
            connect(state["uri"]), state["parent_run_id"], counts, status="FINISHED" if note is None else "KILLED", note=note
        )
    except Exception:  # the parent's end state is cosmetic; its children are what matter
        pass


def _refuse(exc: UserError):
    import sys

    print(f"llem: error: {exc}", file=sys.stderr)
    raise SystemExit(2)


class SweepCallback(Callback):
    def on_run_start(self, config, **kwargs: Any) -> None:
        """A single run: the checks llem's sweeper makes of every sweep point, before the run dir exists."""
        try:
            check_job(task_job(config), here=True, single=True)
        except UserError as exc:
            _refuse(exc)

    def on_run_end(self, config, job_return=None, **kwargs: Any) -> None:
        close_warm_worker()
        value = job_return.return_value if job_return is not None and job_return.status.name == "COMPLETED" else None
        if isinstance(value, Outcome):
            code = exit_status([value], single_run=True)
            if code:
                raise SystemExit(code)

    def on_multirun_start(self, config, **kwargs: Any) -> None:
        if not _llem_sweeper(config):  # llem's sweeper opens the sweep once every point is validated
            open_sweep(config)

    def on_job_start(self, config, **kwargs: Any) -> None:
        try:
            from hydra.core.hydra_config import HydraConfig
            from hydra.types import RunMode

            if HydraConfig.get().mode != RunMode.MULTIRUN:
                return
        except Exception:
            return
        found = sw.read_sweep(str(config.hydra.sweep.dir))
        if found and os.environ.get(sw.ENV_SWEEP_ID) in (None, found["sweep_id"]):
            sw.export_env(found)

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if _llem_sweeper(config):  # it ended the sweep, with every job's outcome, and wrote the summary
            try:
                summary = read_json(sweep_dir / SWEEP_SUMMARY)
            except (OSError, ValueError):
                summary = None
        else:
            summary = end_sweep(config)
        code = sweep_exit_status(summary)
        if code:
            raise SystemExit(code)

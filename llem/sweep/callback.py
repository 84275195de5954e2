"""Hydra callback (hydra.callbacks in conf/config.yaml) that brackets a --multirun sweep:

- on_multirun_start (launcher process): write the sweep file, open the sweep's parent MLflow run,
  export the sweep to the environment for jobs started from here;
- on_job_start (the job's process, wherever it runs): adopt the sweep from the sweep file;
- on_multirun_end (launcher process): stop the warm measurement worker, count measured / skipped /
  failed jobs from the run dirs and the outcomes this process holds (llem.sweep.ledger.SESSION), write
  llem_sweep_summary.json, print the summary and close the parent run;
- on_run_end (a single run): stop the warm measurement worker.

llem's own modules are imported at the top (cheap; mlflow is imported only inside llem.tracking's functions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llem.interrupt import signal_name
from llem.objective import best_result
from llem.paths import RESULT, SWEEP_SUMMARY
from llem.progress import console
from llem.results.comparison import choice_comparison, choice_lines
from llem.results.io import read_json, write_json
from llem.runner import close_warm_worker
from llem.sweep import state as sw
from llem.sweep.concurrency import measured_results, overlap_lines, window_overlaps
from llem.sweep.ledger import SESSION
from llem.sweep.summary import summarize_sweep, summary_line
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


def _optimiser_choice(config, summary: dict) -> list[str]:
    """An optimising sweeper's (Optuna's) best trial by run.objective, and whether its comparison with the
    other trials of the sweep is like for like (llem/results/comparison.py); nothing for other sweepers."""
    hydra = config.get("hydra") if hasattr(config, "get") else None
    sweeper = str(((hydra or {}).get("sweeper") or {}).get("_target_") or "")
    if "optuna" not in sweeper.lower():
        return []
    run = config.get("run")
    results, seen = [], set()
    for job in summary.get("jobs") or []:  # measured or found complete (a trial Optuna asked for again)
        if job.get("run_dir") and job.get("status") in ("measured", "skipped") and job["run_dir"] not in seen:
            seen.add(job["run_dir"])
            try:
                results.append(read_json(Path(job["run_dir"]) / RESULT))
            except (OSError, ValueError):
                pass
    best = best_result(results, str(run.get("objective") or ""), run.get("max_latency_s"))
    if best is None:
        return []
    name = (best.get("identity") or {}).get("run_id")
    return choice_lines(choice_comparison(best, results), f"the sweeper's best trial by run.objective ({name})")


def _close_warm_worker() -> None:
    """Stop the measurement worker kept alive between jobs."""
    close_warm_worker()


_ACTIVE: dict = {}  # the sweep this process runs: its callback and config (ended by hand when a signal stops it)


def end_interrupted_sweep(signum: int) -> None:
    """A signal stopped the sweep before Hydra could end it: count, summarise and close it as Hydra would."""
    callback, config = _ACTIVE.get("callback"), _ACTIVE.get("config")
    if callback is not None:
        callback.interrupted_by = signum
        callback.on_multirun_end(config)


class SweepCallback(Callback):
    interrupted_by = None  # the signal that stopped the sweep, if one did

    def on_multirun_start(self, config, **kwargs: Any) -> None:
        from pathlib import Path


        self._first_outcome = len(SESSION.outcomes)  # this sweep's jobs are those recorded from here on
        _ACTIVE.update(callback=self, config=config)
        sweep = sw.new_sweep(Path(str(config.hydra.sweep.dir)), list(config.hydra.overrides.task))
        Path(sweep["dir"]).mkdir(parents=True, exist_ok=True)
        tracking = _tracking(config)
        if tracking.get("name") == "mlflow":
            sweep["mlflow"] = self._open_parent(sweep, tracking)
            if not sweep["mlflow"]["synced"]:
                console().print(f"[yellow]llem: warning:[/yellow] MLflow is unreachable ({sweep['mlflow']['error']}); "
                                f"measurements are kept on disk and `llem sync` uploads them later.")
        sw.write_sweep(sweep)
        sw.export_env(sweep)

    @staticmethod
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

    def on_run_end(self, config, **kwargs: Any) -> None:
        _close_warm_worker()

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        _close_warm_worker()  # first: no engine stays loaded while the summary and uploads run
        from pathlib import Path


        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep = sw.read_sweep(sweep_dir) or sw.new_sweep(sweep_dir, [])
        outcomes = SESSION.outcomes[getattr(self, "_first_outcome", 0):]
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
            console().print(f"[yellow]llem: warning:[/yellow] the sweep summary could not be written to "
                            f"{sweep_dir / SWEEP_SUMMARY} ({exc.strerror or exc}); it is printed above.")
        for line in _optimiser_choice(config, summary):
            console().print(f"llem: {line}", markup=False)
        self._catch_up(summary, sweep_dir)
        self._close_parent(sweep, summary["counts"], self.interrupted_by)
        for line in sweep_links(sweep, summary, _objective(config)):
            console().print(f"llem: MLflow {line}", markup=False)
        for var in sw.ENV_VARS:
            os.environ.pop(var, None)
        _ACTIVE.clear()

    @staticmethod
    def _catch_up(summary: dict, sweep_dir) -> None:
        """Upload, from here, the runs its jobs could not log (deferred in containers, store down)."""

        items = pending(list(dict.fromkeys(j["run_dir"] for j in summary["jobs"]
                                           if j.get("run_dir") and j["status"] != "skipped")))
        if not items:
            return
        c = sync_runs(items)["counts"]
        if c["uploaded"] or c["already_in_mlflow"]:
            console().print(f"llem: uploaded {c['uploaded']} run(s) to MLflow that their jobs could not log")
        if c["failed"]:
            console().print(f"[yellow]llem: warning:[/yellow] {c['failed']} run(s) of this sweep are not in MLflow yet: "
                            f"they are saved on disk; upload them later with: llem sync <run.output_root>")

    @staticmethod
    def _close_parent(sweep: dict, counts: dict, interrupted_by=None) -> None:
        state = sweep.get("mlflow") or {}
        if not state.get("parent_run_id"):
            return
        note = None
        if interrupted_by is not None:  # the parent says how far the sweep got

            done = sum(counts.get(k, 0) for k in ("measured", "skipped", "failed", "invalid"))
            note = (f"stopped by {signal_name(interrupted_by)} after {done} of {sum(counts.values())} job(s): "
                    f"{summary_line(counts)}")
        try:
            finish_parent(connect(state["uri"]), state["parent_run_id"], counts,
                          status="FINISHED" if note is None else "KILLED", note=note)
        except Exception:  # the parent's end state is cosmetic; its children are what matter
            pass

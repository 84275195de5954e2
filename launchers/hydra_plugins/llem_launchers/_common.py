"""What llem's launchers share: per-job configs, refusals, outcomes and the isolation note."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

log = logging.getLogger("llem.launcher")


def refuse(message: str) -> NoReturn:
    """Stop the sweep before any job runs: one sentence, exit code 2, no traceback.

    SystemExit passes through Hydra's error reporting (it catches Exception only)."""
    print(f"llem: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def task_config(sweep_config):
    """The job's config without the hydra node (parts of which stay unset until a job runs)."""
    import copy

    from omegaconf import open_dict, read_write

    task = copy.deepcopy(sweep_config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return task


def resolved_device(job: dict) -> str:
    from llem.host.devices import resolve_device

    return resolve_device(str((job.get("hardware") or {}).get("device", "auto")))


def job_gpu_count(job: dict, device: str) -> int:
    """GPUs a job uses: none on CPU, its listed `hardware.gpus`, else `hardware.gpu_count`."""
    if device == "cpu":
        return 0
    hw = job.get("hardware") or {}
    return len(hw["gpus"]) if hw.get("gpus") else int(hw.get("gpu_count") or 1)


def isolation_note(jobs: list[dict], how: str) -> str | None:
    """Say so when a sweep mixes engines that must never share a process (registry isolation groups)."""
    from llem.registry import engines

    groups: dict[str, set[str]] = {}
    for job in jobs:
        name = str((job.get("backend") or {}).get("name"))
        info = engines().get(name)
        if info is not None:
            groups.setdefault(info.isolation_group, set()).add(name)
    if len(groups) < 2:
        return None
    listed = "; ".join(f"{g}: {', '.join(sorted(b))}" for g, b in sorted(groups.items()))
    return f"this sweep mixes engines that must not share a process ({listed}): each job runs isolated {how}."


def plot_before_upload(job: dict, outcome: dict) -> None:
    """The power plot of a job measured where it could not be made (a container without matplotlib),
    made here before the sweep's end uploads the run (tracking uploads files; it does not plot)."""
    from pathlib import Path

    from llem.paths import POWER_PLOT, RESULT
    from llem.results.io import read_json
    from llem.tracking import uploads_artifacts

    run_dir = outcome.get("run_dir")
    if outcome.get("status") != "ok" or not run_dir or not uploads_artifacts(job.get("tracking") or {"name": "none"}):
        return
    if (Path(run_dir) / POWER_PLOT).is_file():
        return
    from llem.report.timeseries import power_plot

    try:
        power_plot(read_json(Path(run_dir) / RESULT), Path(run_dir))
    except (OSError, ValueError):
        pass


def caught_finished(job: dict, name: str):
    """A job whose complete result was on disk when the signal came (after its measurement ended, before
    its outcome was returned or written): measured, not "not started" (llem.sweep.resume.finished_job).
    None where no complete result is there. `name`: the job's folder under the sweep dir."""
    from llem.sweep.resume import finished_job

    outcome = finished_job(job)
    if outcome is not None:
        outcome.job = name
    return outcome


def not_started_outcomes(configs) -> list:
    """Outcomes of the jobs of a sweep that a signal stopped before they began (llem/host/interrupt.py):
    counted as not started in the summary, and measured by the next run of the same command."""
    from llem.sweep.ledger import Outcome

    return [
        Outcome("not_started", job=str(c.hydra.sweep.subdir), message="not started: the sweep was stopped before this job")
        for c in configs
    ]


def failed_outcome(message: str, run_dir: str | None = None) -> dict:
    return {"status": "failed", "run_dir": run_dir, "message": message, "user_error": False, "headline": None}


def job_return(overrides, outcome, **fields):
    """Hydra's JobReturn of a job that llem's launcher answered itself (skipped, run elsewhere, not
    started): its value is the job's Outcome, as the task function's would be."""
    from hydra.core.utils import JobReturn, JobStatus

    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=outcome, **fields)


def outcomes_in(returns) -> list:
    """The Outcomes that these JobReturns carry (a job's return value; None for jobs not answered)."""
    from llem.sweep.ledger import Outcome

    return [r.return_value for r in returns if r is not None and isinstance(r.return_value, Outcome)]

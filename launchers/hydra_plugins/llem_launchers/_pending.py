"""What a sweep's launcher has left to run, decided before it starts anything.

Each point's plain config comes from the composition llem's command line already made while
validating it (llem.sweep.points), else from composing it here, once. Points whose complete result
is already on disk (llem.sweep.resume: the rule the job itself applies) are answered at once: counted
as skipped in the sweep's ledger, returned to the sweeper with their objective, and given no job
folder, worker process, container or Slurm job. Only the points left to run get their full Hydra
config (hydra node included), composed once and handed to the job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus

from llem.sweep import points
from llem.sweep.ledger import SESSION

from ._common import log, plain_job, sweep_job_config


@dataclass
class Pending:
    jobs: list[dict]  # every point's plain config, in the sweep's order
    todo: list[int]  # the points left to run
    configs: dict[int, object]  # their full sweep configs
    returns: list[Optional[JobReturn]] = field(default_factory=list)  # filled for the points skipped


def pending_jobs(hydra_context, config, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Pending:
    from llem.sweep.resume import skipped_job  # pydantic and rich: not at plugin discovery

    reuse = points.reusable_in(config)
    configs: dict[int, object] = {}
    jobs = []
    for i, overrides in enumerate(job_overrides):
        job = points.recall(overrides) if reuse else None
        if job is None:
            configs[i] = sweep_job_config(hydra_context, config, overrides, initial_job_idx + i)
            job = plain_job(configs[i])
        jobs.append(job)
    returns: list[Optional[JobReturn]] = [None] * len(jobs)
    name = _job_name(config)
    for i, (job, overrides) in enumerate(zip(jobs, job_overrides)):
        outcome = skipped_job(job)
        if outcome is None:
            continue
        outcome.job = name(initial_job_idx + i)
        SESSION.outcomes.append(outcome)
        returns[i] = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=outcome.headline)
    todo = [i for i, ret in enumerate(returns) if ret is None]
    for i in todo:  # composed here (again, if only validated before) so a job that runs sees what Hydra gives it
        if i not in configs:
            configs[i] = sweep_job_config(hydra_context, config, job_overrides[i], initial_job_idx + i)
            jobs[i] = plain_job(configs[i])
    if len(todo) < len(jobs):
        log.info(f"llem: {len(jobs) - len(todo)} of {len(jobs)} job(s) have a complete result on disk: skipped, "
                 f"none of them started (run.force=true re-measures)")
    return Pending(jobs=jobs, todo=todo, configs=configs, returns=returns)


def _job_name(config):
    """How the sweep summary names a skipped job: its would-be folder under the sweep dir, where that
    is Hydra's default (the job's number); unnamed where hydra.sweep.subdir says otherwise."""
    from omegaconf import OmegaConf

    subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")
    if str(subdir).replace(" ", "") == "${hydra.job.num}":
        return str
    return lambda idx: None

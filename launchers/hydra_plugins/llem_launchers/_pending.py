"""What a sweep's launcher has left to run, decided before it starts anything, and how llem's
launchers take the sweep's points.

llem's sweeper hands its launcher the points it composed and validated (llem.sweep.points.Point:
overrides, the full config, its plain task part): `launch_points`. Another sweeper (Optuna) calls
Hydra's `launch` with bare override lists: those are composed here, once, and launched the same way.
Points whose complete result is already on disk (llem.sweep.resume: the rule the job itself applies)
are answered at once: their JobReturn carries the skipped Outcome and its objective, and they get no
job folder, worker process, container or Slurm job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

from hydra.core.utils import JobReturn

from llem.errors import UserError
from llem.sweep.state import add_outcomes, llem_sweeper

from ._common import job_return, log, outcomes_in, refuse

if TYPE_CHECKING:
    from llem.sweep.points import Point

# llem's own heavier modules (pydantic models, the registry) are imported inside the functions: Hydra
# imports every plugin module whenever any Hydra app on the machine starts.


class ComposedLauncher:
    """Mixed into llem's launchers (which keep hydra_context and config from Hydra's setup())."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from llem.sweep.points import compose_points

        try:
            points = compose_points(self.hydra_context.config_loader, self.config, job_overrides, initial_job_idx)  # type: ignore[attr-defined]
        except UserError as exc:
            refuse(str(exc))
        returns = self.launch_points(points, initial_job_idx)
        if not llem_sweeper(self.config):  # type: ignore[attr-defined]  # the sweeper keeps no outcomes for the sweep's end
            add_outcomes(self.config.hydra.sweep.dir, outcomes_in(returns))  # type: ignore[attr-defined]
        return returns

    def launch_points(self, points: Sequence["Point"], initial_job_idx: int) -> Sequence[JobReturn]:
        raise NotImplementedError


@dataclass
class Pending:
    points: Sequence["Point"]  # every point, in the sweep's order
    todo: list[int]  # the points left to run
    returns: list[Optional[JobReturn]] = field(default_factory=list)  # filled for the points skipped

    @property
    def jobs(self) -> list[dict]:
        return [p.job for p in self.points]

    @property
    def configs(self) -> list:
        return [p.config for p in self.points]


def pending_jobs(hydra_context, config, points: Sequence["Point"], initial_job_idx: int) -> Pending:
    """Which points are left to run; those get their full config (composed now where llem's sweeper
    derived them: llem.sweep.points), before any job starts."""
    from llem.sweep.points import composed
    from llem.sweep.resume import skipped_job  # pydantic and rich: not at plugin discovery

    returns: list[Optional[JobReturn]] = [None] * len(points)
    name = _job_name(config)
    for i, point in enumerate(points):
        outcome = skipped_job(point.job)
        if outcome is None:
            continue
        outcome.job = name(initial_job_idx + i)
        returns[i] = job_return(point.overrides, outcome)
    todo = [i for i, ret in enumerate(returns) if ret is None]
    points = [composed(hydra_context.config_loader, config, p) if i in set(todo) else p for i, p in enumerate(points)]
    if len(todo) < len(points):
        log.info(
            f"llem: {len(points) - len(todo)} of {len(points)} job(s) have a complete result on disk: skipped, "
            f"none of them started (run.force=true re-measures)"
        )
    return Pending(points=points, todo=todo, returns=returns)


def _job_name(config):
    """How the sweep summary names a skipped job: its would-be folder under the sweep dir, where that
    is Hydra's default (the job's number); unnamed where hydra.sweep.subdir says otherwise."""
    from omegaconf import OmegaConf

    subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")
    if str(subdir).replace(" ", "") == "${hydra.job.num}":
        return str
    return lambda idx: None

"""`hydra/launcher=inprocess` (llem's default): the jobs run one at a time in this process, through
Hydra's run_job, the jobs of each engine configuration one after another, so that llem's
measurement worker can keep the engine loaded between them (llem/config/grouping.py, llem/harness/warm.py). Each
job is measured in llem's worker process; returns come back in the sweep's order (sweepers such as
Optuna match them to trials by position), each carrying the job's Outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher

from llem.host.interrupt import Interrupted

from ._common import caught_finished, log, not_started_outcomes, outcomes_in
from ._pending import ComposedLauncher, pending_jobs


class InProcessLauncher(ComposedLauncher, Launcher):
    def __init__(self) -> None:
        super().__init__()
        self.config: Any = None
        self.task_function: Any = None
        self.hydra_context: Any = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch_points(self, points, initial_job_idx: int) -> Sequence[JobReturn]:
        from llem.config.grouping import engine_order
        from llem.host.progress import SweepProgress

        setup_globals()
        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        left = pending_jobs(self.hydra_context, self.config, points, initial_job_idx)
        points, runs = left.points, left.returns
        order = [left.todo[k] for k in engine_order([points[i].job for i in left.todo])]
        progress = SweepProgress(len(order), quiet=all((points[i].job.get("run") or {}).get("quiet") for i in order))
        moved = "" if order == sorted(order) else ", grouped by engine configuration"
        if order:
            log.info(f"Launching {len(order)} jobs locally{moved}")
        pending = list(order)
        try:
            while pending:
                i = pending[0]
                log.info(f"\t#{initial_job_idx + i} : {' '.join(filter_overrides(points[i].overrides))}")
                progress.start()
                runs[i] = run_job(
                    hydra_context=self.hydra_context,
                    task_function=self.task_function,
                    config=points[i].config,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
                pending.pop(0)
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        except Interrupted as stopped:  # the stopped job's outcome rides on it (llem.cli.app); the rest never started
            left = [i for i in pending if runs[i] is None]
            caught = stopped.outcome
            if caught is None and left:  # the signal came after the job's result was written, before its return
                caught = caught_finished(points[left[0]].job, str(points[left[0]].config.hydra.sweep.subdir))
            later = left[1 if caught is not None else 0 :]
            stopped.outcomes = (
                outcomes_in(runs)
                + ([caught] if caught is not None else [])
                + not_started_outcomes([points[i].config for i in later])
            )
            raise
        return runs  # type: ignore[return-value]

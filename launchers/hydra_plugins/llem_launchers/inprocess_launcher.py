"""`hydra/launcher=inprocess` (llem's default): Hydra's basic launcher, with the jobs of each
engine configuration run one after another, so that llem's measurement worker can keep the
engine loaded between them (llem/grouping.py, llem/warm.py). Jobs still run one at a time, each
measured in llem's worker process; returns come back in the sweep's order (sweepers such as
Optuna match them to trials by position).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.utils import JobReturn, configure_log, run_job, setup_globals

from llem.interrupt import Interrupted
from llem.sweep.ledger import SESSION

from ._common import log, record_not_started
from ._pending import pending_jobs


class InProcessLauncher(BasicLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from llem.grouping import engine_order
        from llem.progress import SweepProgress

        setup_globals()
        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        left = pending_jobs(self.hydra_context, self.config, job_overrides, initial_job_idx)
        configs, runs = left.configs, left.returns
        order = [left.todo[k] for k in engine_order([left.jobs[i] for i in left.todo])]
        progress = SweepProgress(len(order), quiet=all((left.jobs[i].get("run") or {}).get("quiet") for i in order))
        moved = "" if order == sorted(order) else ", grouped by engine configuration"
        if order:
            log.info(f"Launching {len(order)} jobs locally{moved}")
        pending, before = list(order), len(SESSION.outcomes)
        try:
            while pending:
                i = pending[0]
                log.info(f"\t#{initial_job_idx + i} : {' '.join(job_overrides[i])}")
                before = len(SESSION.outcomes)
                progress.start()
                runs[i] = run_job(hydra_context=self.hydra_context, task_function=self.task_function, config=configs[i],
                                  job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
                pending.pop(0)
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        except Interrupted:  # the stopped job recorded itself (llem.app); the rest never started
            stopped_before_its_task = len(SESSION.outcomes) == before
            record_not_started([configs[i] for i in (pending if stopped_before_its_task else pending[1:])])
            raise
        return runs  # type: ignore[return-value]

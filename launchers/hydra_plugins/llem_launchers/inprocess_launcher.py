"""`hydra/launcher=inprocess` (llem's default): Hydra's basic launcher, with the jobs of each
engine configuration run one after another, so that llem's measurement worker can keep the
engine loaded between them (llem/grouping.py, llem/warm.py). Jobs still run one at a time, each
measured in llem's worker process; returns come back in the sweep's order (sweepers such as
Optuna match them to trials by position).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.utils import JobReturn, configure_log, run_job, setup_globals

from ._common import log, plain_job, sweep_job_config


class InProcessLauncher(BasicLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from llem.grouping import engine_order
        from llem.progress import SweepProgress

        setup_globals()
        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = [sweep_job_config(self.hydra_context, self.config, o, initial_job_idx + i) for i, o in enumerate(job_overrides)]
        jobs = [plain_job(c) for c in configs]
        order = engine_order(jobs)
        progress = SweepProgress(len(jobs), quiet=all((j.get("run") or {}).get("quiet") for j in jobs))
        moved = "" if order == sorted(order) else ", grouped by engine configuration"
        log.info(f"Launching {len(job_overrides)} jobs locally{moved}")
        runs: list[Optional[JobReturn]] = [None] * len(configs)
        for i in order:
            log.info(f"\t#{initial_job_idx + i} : {' '.join(job_overrides[i])}")
            progress.start()
            runs[i] = run_job(hydra_context=self.hydra_context, task_function=self.task_function, config=configs[i],
                              job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs  # type: ignore[return-value]

"""`hydra/sweeper=basic` (the default): llem's grid sweeper, on Hydra's public Sweeper API.

It sweeps the points Hydra's basic sweeper would, in the same order and batches (llem.sweep.points.grid),
but composes and validates every point before the first job (a typo in the last point costs no
job), refusing bad input in one sentence with exit code 2 before anything is written. Only then does
it open the sweep (sweep file, parent MLflow run: llem.sweep.callback.open_sweep) and launch the
batches; llem's launchers take the points as composed here (ComposedLauncher.launch_points), any
other launcher gets Hydra's override lists. Each job's Outcome comes back as its JobReturn's value;
at the end the sweeper summarises them (llem.sweep.callback.end_sweep), and llem's callback sets the
exit status from that summary. A signal stops it with the outcomes so far on the Interrupted.

Stored over the basic sweeper's ConfigStore entry (Hydra registers its core plugins before this
one), so `hydra/sweeper=basic` means this class; a config that picks another sweeper (Optuna:
conf/experiment/optuna_example.yaml) still can.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper

from llem.errors import UserError
from llem.host.interrupt import Interrupted
from llem.sweep.state import LLEM_SWEEPER

from ._common import outcomes_in, refuse
from ._pending import ComposedLauncher


def _store() -> None:
    # A plain dict node (no dataclass): Hydra's scanner runs this module without registering it first.
    # The class path is the one llem recognises (LLEM_SWEEPER): with this sweeper the sweep's start and
    # end are the sweeper's, with another they are llem's callback's.
    node = {"_target_": LLEM_SWEEPER, "max_batch_size": None, "params": None}
    ConfigStore.instance().store(group="hydra/sweeper", name="basic", node=node, provider="llem")


_store()


class GridSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None) -> None:
        super().__init__()
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.hydra_context: Any = None
        self.config: Any = None
        self.launcher: Any = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> Any:
        from omegaconf import OmegaConf

        from llem.config.validate import launches_here
        from llem.sweep.callback import end_sweep, open_sweep
        from llem.sweep.points import validated_points

        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        # Resolved first: each point's config shares the master's resolver cache (Hydra's load_sweep_config),
        # so every job finds the same ${now:...} sweep dir.
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        target = str(OmegaConf.select(self.config, "hydra.launcher._target_", default="") or "")
        args = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        try:
            batches = validated_points(
                self.hydra_context.config_loader, self.config, args, self.max_batch_size, here=launches_here(target)
            )
        except UserError as exc:
            refuse(str(exc))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        open_sweep(self.config)
        returns, outcomes, first = [], [], 0
        try:
            for batch in batches:
                if isinstance(self.launcher, ComposedLauncher):  # llem's: the points as composed and checked here
                    results = self.launcher.launch_points(batch, initial_job_idx=first)
                else:
                    results = self.launcher.launch([p.overrides for p in batch], initial_job_idx=first)
                for r in results:
                    _ = r.return_value  # a job whose task raised fails the sweep here, as in Hydra's basic sweeper
                outcomes += outcomes_in(results)
                returns.append(results)
                first += len(batch)
        except Interrupted as stopped:  # llem.cli ends the sweep with every outcome so far
            stopped.outcomes = outcomes + list(stopped.outcomes)
            raise
        end_sweep(self.config, outcomes)
        return returns

"""Hydra's basic sweeper (`hydra/sweeper=basic`, the default) without the second composition of
every point that its batch check makes before launching.

Hydra's basic sweeper composes each point of a batch only to check that it composes, then hands the
batch to the launcher. A point llem's command line has already composed (and validated) from the
same primary config and config sources (llem.sweep.points) is known to compose; only the others are
composed for the check, as Hydra would. Everything else is the basic sweeper's own: the same
points, order, batches and returns. It is stored over the basic sweeper's ConfigStore entry (Hydra
imports its core plugins before this one), so `hydra/sweeper=basic` means this class, and a config
that picks another sweeper (Optuna: conf/experiment/optuna_example.yaml) still can."""

from __future__ import annotations

from typing import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore

from llem.sweep import points


class GridSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        reuse = self.config is not None and points.reusable_in(self.config)
        unchecked = [o for o in batch if not (reuse and points.recall(o) is not None)]
        if unchecked:
            super().validate_batch_is_legal(unchecked)


def _register_over_basic() -> None:
    node = BasicSweeperConf(_target_=f"{__name__}.GridSweeper")  # the basic sweeper's typed settings, this class
    ConfigStore.instance().store(group="hydra/sweeper", name="basic", node=node, provider="llem")


_register_over_basic()

__all__ = ["GridSweeper"]

"""`hydra/sweeper=grid` (llem's default): Hydra's basic sweeper, without the second composition of
every point that its batch check makes before launching.

Hydra's basic sweeper composes each point of a batch to check that it composes, then hands the
batch to the launcher. A point llem's command line has already composed (and validated) from the
same primary config and config sources (llem.sweep.points) is known to compose; only the others are
composed for the check, as Hydra would."""

from __future__ import annotations

from typing import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from llem.sweep import points


class GridSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        reuse = self.config is not None and points.reusable_in(self.config)
        unchecked = [o for o in batch if not (reuse and points.recall(o) is not None)]
        if unchecked:
            super().validate_batch_is_legal(unchecked)

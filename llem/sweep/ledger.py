"""What a job did: its Outcome, which llem's task function returns (llem.cli.app.run_from_hydra).

It travels as a return value: Hydra's run_job puts it in the job's JobReturn, llem's launchers hand
those back to the sweeper (jobs run elsewhere, by submitit, on Slurm or in a container, send it back
as plain data), and llem's sweeper summarises the sweep and sets the exit status from them. A sweep
that a signal stops carries the outcomes so far on the Interrupted exception instead."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Optional

# Statuses that make a command's exit status non-zero.
NOT_DONE = ("failed", "invalid", "interrupted", "not_started")


@dataclass
class Outcome:
    status: str  # ok | skipped | failed | invalid | interrupted | not_started
    run_dir: Optional[str] = None
    message: Optional[str] = None
    user_error: bool = False
    headline: Optional[float] = None
    job: Optional[str] = None  # the job's dir under Hydra's sweep dir (its number), in a sweep

    def __float__(self) -> float:
        """The value an optimising sweeper (Optuna) minimises, which it reads as float(return value):
        run.objective's; a job without one raises TypeError, as float(None) would."""
        if self.headline is None:
            raise TypeError(f"this job ({self.status}) has no value of run.objective")
        return float(self.headline)


def outcome_from(data: dict) -> Outcome:
    """An outcome sent as plain data by another process (an image's llem may record fields this one lacks)."""
    known = {f.name for f in dataclasses.fields(Outcome)}
    return Outcome(**{k: v for k, v in data.items() if k in known})


def exit_status(outcomes: Iterable[Outcome], single_run: bool) -> int:
    """0 when every job measured or was skipped; 2 for a single run refused as bad input; else 1,
    also when a job was stopped by a signal this process did not get (scancel or docker stop of one
    job: it is interrupted, the rest not started)."""
    bad = [o for o in outcomes if o.status in NOT_DONE]
    if not bad:
        return 0
    return 2 if single_run and all(o.user_error for o in bad) else 1

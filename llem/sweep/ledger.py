"""What the jobs of this process's command did: one Outcome per job, in the order they ended.

The launcher process holds the ledger (SESSION); jobs run elsewhere (submitit, Slurm, Docker) send
their outcomes back as plain dicts and llem's launchers add them here. The sweep summary and the
CLI's exit code read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Outcome:
    status: str  # ok | skipped | failed | invalid
    run_dir: Optional[str] = None
    message: Optional[str] = None
    user_error: bool = False
    headline: Optional[float] = None
    job: Optional[str] = None  # the job's dir under Hydra's sweep dir (its number), in a sweep


@dataclass
class Session:
    outcomes: list[Outcome] = field(default_factory=list)


SESSION = Session()

"""OmegaConf resolvers that llem's own config uses. Registered when llem.cli.app is imported: by the CLI
before Hydra composes, and by every job process (submitit, Slurm, Docker) that resolves its config again."""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "workload" / "data"  # llem/config/ -> llem/workload/data


def shipped_data(name: str) -> str:
    """`${llem.data:NAME}`: the absolute path of a file llem ships in llem/workload/data (an example
    schema or prompt file), wherever llem is installed; an unknown name is left for validation to refuse."""
    return str(DATA / name)


def register() -> None:
    from omegaconf import OmegaConf

    # `${llem.pid:}`: the launching process's id, which makes Hydra's run and sweep dir names unique
    # even when two llem commands start within the clock's resolution on one output root.
    # Cached, so every job of a sweep (and a pickled job config) resolves the launcher's value.
    if not OmegaConf.has_resolver("llem.pid"):
        OmegaConf.register_new_resolver("llem.pid", os.getpid, use_cache=True)
    if not OmegaConf.has_resolver("llem.data"):
        OmegaConf.register_new_resolver("llem.data", shipped_data)

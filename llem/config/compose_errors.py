"""Hydra's composition errors as one sentence a user can act on (exit code 2), and the config tree
they refer to. Cheap to import: `--help` lists the groups from here without Hydra."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable, Optional, Sequence

from llem.errors import UserError, choice_error


# Run settings renamed, old name -> new: an old name in a stored spec or config reads as the new one, on the
# command line it is refused with the new name (below), and a run's identity keeps the old name
# so that results measured before the rename keep their config hash.
RUN_RENAMED = {"min_window_updates": "target_window_updates", "cooldown": "cooldown_mode"}


def conf_dir() -> Path:
    spec = importlib.util.find_spec("llem.conf")
    return Path(list(spec.submodule_search_locations)[0])


def group_options(group: str) -> list[str]:
    """A config group's options: its YAML files. `backend` has none (each engine's option is its settings
    model's defaults, stored in Hydra's ConfigStore by llem/backends/configs.py): its options here are the
    built-in engines' folders, each one an engine (tests/test_registry.py), listed without importing them."""
    if group == "backend":
        backends = Path(list(importlib.util.find_spec("llem.backends").submodule_search_locations)[0])
        return sorted(p.name for p in backends.iterdir() if (p / "__init__.py").is_file())
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def _unknown_engine(name: str) -> Optional[UserError]:
    """`backend=<name>` that names no engine: one sentence with the choices, installed engines included."""
    from llem.registry import engine  # lazy: --help imports this module, and the registry's dataclasses bring inspect

    try:
        engine(name)
    except UserError as exc:
        return exc
    return None


def compose_error(exc: Exception, overrides: Sequence[str], compose: Optional[Callable] = None) -> UserError:
    """What went wrong composing `overrides`, in one sentence. `compose(overrides) -> config`
    composes again (group choices only) to tell a new entry of a free-form mapping from a typo."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Ambiguous value for argument" in msg or "requires --multirun" in msg:  # a sweep in Hydra's run mode
        line = msg.split("'")[1] if "'" in msg else msg
        return UserError(f"{line} sweeps several values: add --multirun (or -m) to run a sweep.")
    if getattr(exc, "override", None) is not None:  # Hydra's OverrideParseException
        detail = [line for line in str(exc).splitlines() if line.strip() and "Error parsing override" not in line]
        return UserError(
            f"the override {exc.override} could not be parsed ({(detail or ['a syntax error'])[0].rstrip('.')}): "
            f"write overrides as key=value, e.g. workload.batch_size=4."
        )
    if "Could not find" in msg or "Could not load" in msg:
        for o in overrides:
            key, _, value = o.lstrip("+~").partition("=")
            group = key.split("@")[0]
            if group == "backend":
                unknown = _unknown_engine(value)
                if unknown is not None:
                    return unknown
            elif (conf_dir() / group).is_dir() and value not in group_options(group):
                return choice_error(group, value, group_options(group))
    if "Could not override" in msg or "not in struct" in str(exc) or "Could not append to config" in msg:
        key = msg.split("'")[1] if "'" in msg else msg
        renamed = _renamed(key, overrides)
        if renamed is not None:
            return renamed
        parent = key.rpartition(".")[0]
        if parent and compose is not None and _is_empty_mapping(parent, overrides, compose):
            return UserError(f"{key} is a new entry of the mapping {parent}: add it with a leading +, e.g. +{key}=<value>.")
        return UserError(f"{key} is not a known setting: check the spelling (python -m llem --cfg job lists them).")
    return UserError(f"the configuration could not be composed: {msg.rstrip('.')}.")


def _renamed(key: str, overrides: Sequence[str]) -> Optional[UserError]:
    """A setting given by its name from before a rename (RUN_RENAMED): the new name, in one sentence."""
    name = key.rpartition(".")[2]
    if name not in RUN_RENAMED:
        return None
    for o in overrides:
        k, _, value = o.lstrip("+~").partition("=")
        if k in (f"run.{name}", key):
            return UserError(
                f"run.{name} was renamed run.{RUN_RENAMED[name]} (same values): use run.{RUN_RENAMED[name]}={value}."
            )
    return None


def _is_empty_mapping(key: str, overrides: Sequence[str], compose: Callable) -> bool:
    """Whether `key` is a free-form mapping (e.g. backend.engine_kwargs), empty by default, in the
    config these overrides select; composed again without the override that failed."""
    from omegaconf import DictConfig, OmegaConf

    groups = [o for o in overrides if "." not in o.partition("=")[0]]  # group choices only
    try:
        value = OmegaConf.select(compose(groups), key)
    except Exception:
        return False
    return isinstance(value, DictConfig) and len(value) == 0

"""Each point of a sweep composed once per command.

Before Hydra starts, llem's command line composes and validates every point it can enumerate
(llem.cli.prevalidate). It keeps each point's plain config here, keyed by the point's override
list as Hydra's basic sweeper will hand it to the launcher; llem's launchers take the config from
here to decide which points are already done and how to group the rest, instead of composing each
point again (Hydra's load_sweep_config). A launcher composes only what it must run.

A point is kept only where composing it again would give the same plain config:
- its config uses no resolver (`${now:...}`, `${oc.env:...}`, `${hydra:...}`: values that depend on
  when or where it is resolved), only plain interpolations of other keys;
- and the launcher's Hydra composes from the same primary config and config sources (no
  --config-dir, --config-name or hydra.searchpath of its own): `reusable_in` checks that against
  the sweep's master config.
Anything else is composed again by the launcher, as Hydra would: a miss costs time, never a wrong config."""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

_RESOLVER = re.compile(r"\$\{\s*[\w.\-]+\s*:")  # ${name:...}: a resolver call, not ${other.key}

_POINTS: dict[tuple[str, ...], dict] = {}
_CONTEXT: dict[str, Any] = {}


def sweeper_overrides(parsed) -> list[list[str]]:
    """Every job's override list, spelled and ordered as Hydra's basic sweeper spells them (one axis
    per key, the last value of a repeated key kept at its first place), so a point's key here is the
    override list its launcher receives. `parsed`: Hydra Override objects of discrete sweeps and values."""
    from itertools import product

    axes: dict[str, list[str]] = {}
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            axes[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            axes[key] = [f"{key}={o.get_value_element_as_str()}"]
    return [list(c) for c in product(*axes.values())]


def uses_resolver(raw) -> bool:
    """Whether an unresolved plain config (OmegaConf.to_container(resolve=False)) calls a resolver."""
    if isinstance(raw, dict):
        return any(uses_resolver(v) for v in raw.values())
    if isinstance(raw, list):
        return any(uses_resolver(v) for v in raw)
    return isinstance(raw, str) and bool(_RESOLVER.search(raw))


def read_config_files_once() -> None:
    """Inside prevalidation's Hydra (compose API, initialised): keep each config file as read and
    parsed the first time, for every later point, instead of reading and parsing the same YAML
    files again for each point (Hydra's per-composition cache lives for one composition only).

    The files do not change while llem validates, and Hydra treats what its repository returns as
    read-only within one composition already (it asks for the primary config twice), so the
    composed configs are the same (tests/launchers/test_launcher_resume.py compares them). The cache ends
    with prevalidation: Hydra's main run builds its own repository. Where Hydra's internals differ
    from 1.3's, nothing is cached and every point is composed as before."""
    from hydra.core.global_hydra import GlobalHydra

    try:
        from hydra._internal.config_repository import CachingConfigRepository
    except ImportError:
        return

    class ReadOnce(CachingConfigRepository):
        """Shared by every composition of prevalidation: Hydra copies its repository for each one
        (so that re-initialising the sources there cannot leak), which would copy the cache too;
        re-initialised sources here clear the cache instead."""

        def __deepcopy__(self, memo):
            return self

        def initialize_sources(self, config_search_path) -> None:
            self.cache.clear()
            super().initialize_sources(config_search_path)

    try:
        loader = GlobalHydra.instance().config_loader()
        if not isinstance(loader.repository, ReadOnce):
            loader.repository = ReadOnce(loader.repository)
    except (AttributeError, ValueError):
        return


def set_context(config_name: str, sources: Sequence) -> None:
    """Where prevalidation composed from: its primary config's name and its config sources."""
    _CONTEXT.update(config_name=config_name, sources=_source_list(sources))


def remember(overrides: Sequence[str], job: dict, raw: dict) -> None:
    """Keep a validated point's plain config (`raw`: the same config unresolved)."""
    if not uses_resolver(raw):
        _POINTS[tuple(overrides)] = job


def recall(overrides: Sequence[str]) -> Optional[dict]:
    return _POINTS.get(tuple(overrides))


def reusable_in(master_config) -> bool:
    """Whether the sweep's Hydra composes as prevalidation did (same primary config and sources)."""
    if not _POINTS or not _CONTEXT:
        return False
    hydra = master_config.hydra
    return (str(hydra.job.config_name) == _CONTEXT["config_name"]
            and _source_list(hydra.runtime.config_sources) == _CONTEXT["sources"])


def forget() -> None:
    _POINTS.clear()
    _CONTEXT.clear()


def _source_list(sources) -> list[tuple[str, str, str]]:
    return [(str(s["provider"]), str(s["schema"]), str(s["path"])) for s in sources]

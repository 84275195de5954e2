"""Hydra's `backend=<name>` option for an engine that ships no conf/backend/<name>.yaml (an engine installed
through the llem.engines entry point): its settings model's defaults, stored in Hydra's ConfigStore.

The settings model is the one source of defaults either way: a shipped YAML must equal it
(tests/test_config_defaults.py, which also writes the YAML for a new built-in engine)."""

from __future__ import annotations

from pathlib import Path

from llem.registry import engines

CONF = Path(__file__).resolve().parent.parent / "conf"  # llem/conf -> the repository's conf/


def defaults(engine) -> dict:
    """What `backend=<name>` composes to: every setting at its default (plain JSON values)."""
    return engine.settings_model()().model_dump(mode="json")


def store_engine_configs() -> list[str]:
    """Put each discovered engine without a YAML under Hydra's `backend` group; the names stored."""
    from hydra.core.config_store import ConfigStore  # hydra: heavy, and only when a config composes

    stored = []
    for name, engine in engines().items():
        if not (CONF / "backend" / f"{name}.yaml").is_file():
            ConfigStore.instance().store(group="backend", name=name, node=defaults(engine), provider=engine.name)
            stored.append(name)
    return stored

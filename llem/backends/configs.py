"""Hydra's `backend=<name>` options, from each engine's settings model: the one source of its defaults and
of its settings' documentation (each field's `description`, the model's docstring).

- Every engine, built-in or installed through the llem.engines entry point, gets its option from its
  model's defaults, stored in Hydra's ConfigStore by store_engine_configs. llem's config package
  (llem/conf/__init__.py) calls it when imported, and Hydra imports that package in every process that
  composes llem's config (the CLI, the compose API on llem.conf, the launchers), so no YAML file is
  written for an engine.
- docs/backends.md's settings reference (each setting's name, type, default and description) is
  rendered from the models: `python -m llem.backends.configs` rewrites it, `--check` says whether it
  differs (tests/test_config_defaults.py runs it). Edit a default or a description in the engine's
  settings model, then run it.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from llem.registry import builtin_engines, engines

DOCS = Path(__file__).resolve().parents[2] / "docs" / "backends.md"  # in a source checkout
BEGIN = "<!-- settings reference: written by python -m llem.backends.configs from the settings models; do not edit -->"
END = "<!-- end of the settings reference -->"


def defaults(engine) -> dict:
    """What `backend=<name>` composes to: every setting at its default (plain JSON values, the model's order)."""
    return engine.settings_model()().model_dump(mode="json")


def store_engine_configs() -> list[str]:
    """Put every discovered engine's option under Hydra's `backend` group; the names stored."""
    from hydra.core.config_store import ConfigStore  # hydra: heavy, and only when a config composes

    found = engines()
    for name, engine in found.items():
        ConfigStore.instance().store(group="backend", name=name, node=defaults(engine), provider=engine.name)
    return list(found)


def _scalar(value) -> str:
    """A default as it is written on the command line (backend.<key>=<value>) and in `--cfg job`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _type(annotation) -> str:
    """A field's type in words: int, a | b (a Literal's values), mapping, ... | null (Optional)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        kinds = [_type(a) for a in args if a is not type(None)]
        return " | ".join(kinds) + (" | null" if type(None) in args else "")
    if origin is dict or annotation is dict:
        return "mapping"
    if origin is list or annotation is list:
        return "list"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field) -> str:
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return ", ".join(f"{words[k]} {getattr(m, k)}" for m in field.metadata for k in words if getattr(m, k, None) is not None)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def section(engine) -> str:
    """One engine's part of the reference: its model's docstring, then a row per setting (`name` left out)."""
    model: type[BaseModel] = engine.settings_model()
    where = Path(sys.modules[model.__module__].__file__).resolve().relative_to(DOCS.parents[1]).as_posix()
    lines = [f"### `backend={engine.name}`: `{model.__name__}` ({where})", ""]
    doc = " ".join((model.__doc__ or "").split())
    if doc:
        lines += [doc, ""]
    lines += ["| setting | type | default | description |", "|---|---|---|---|"]
    values = defaults(engine)
    for key, field in model.model_fields.items():
        if key == "name":
            continue
        kind = _type(field.annotation) + (f" ({_bounds(field)})" if _bounds(field) else "")
        lines.append(f"| `{key}` | {_cell(kind)} | `{_scalar(values[key])}` | {_cell(field.description or '')} |")
    return "\n".join(lines)


def reference() -> str:
    """The settings reference of every built-in engine, between its markers."""
    return "\n\n".join([BEGIN, *(section(e) for e in builtin_engines().values()), END])


def updated(text: str) -> str:
    """`text` (docs/backends.md) with its settings reference rendered afresh from the models."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{DOCS} has no settings reference between its markers ({BEGIN} ... {END})")
    return pattern.sub(lambda _: reference(), text, count=1)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    text = DOCS.read_text(encoding="utf-8")
    fresh = updated(text)
    if "--check" in argv:
        if fresh != text:
            print(f"{DOCS}: the settings reference differs from the settings models: run python -m llem.backends.configs")
        return 1 if fresh != text else 0
    if fresh != text:
        DOCS.write_text(fresh, encoding="utf-8")
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

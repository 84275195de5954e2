"""Hydra's `backend=<name>` options, from each engine's settings model: the one source of defaults.

- A built-in engine's conf/backend/<name>.yaml is written from its settings model, keeping the file's
  comments (they document each setting): `python -m llem.backends.configs` rewrites every one,
  `--check` says which differ (tests/test_config_defaults.py runs it). Edit a default in
  llem/backends/<name>/config.py, then run it.
- An engine that ships no YAML (one installed through the llem.engines entry point) gets its option
  from the same defaults, stored in Hydra's ConfigStore when llem.cli.app is imported.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Optional

from llem.registry import builtin_engines, engines

CONF = Path(__file__).resolve().parent.parent / "conf"  # llem/conf -> the repository's conf/
_LINE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<value>[^#]*?)(?P<pad>\s*)(?P<comment>#.*)?$")


def defaults(engine) -> dict:
    """What `backend=<name>` composes to: every setting at its default (plain JSON values)."""
    return engine.settings_model()().model_dump(mode="json")


def store_engine_configs() -> list[str]:
    """Put each discovered engine without a YAML under Hydra's `backend` group; the names stored."""
    from hydra.core.config_store import ConfigStore  # hydra: heavy, and only when a config composes

    stored = []
    for name, engine in engines().items():
        if not yaml_path(name).is_file():
            ConfigStore.instance().store(group="backend", name=name, node=defaults(engine), provider=engine.name)
            stored.append(name)
    return stored


def yaml_path(name: str) -> Path:
    return CONF / "backend" / f"{name}.yaml"


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-/]*", value) and value not in (
            "null",
            "true",
            "false",
            "yes",
            "no",
            "on",
            "off",
        )
        return value if plain else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    import json

    return json.dumps(value)  # JSON is YAML's flow style


def render(engine, existing: Optional[str] = None) -> str:
    """The YAML of `engine`'s defaults, one line per setting in the model's order; the header and each
    line's comment (at its column) are kept from `existing`."""
    header, comments = [], {}
    for line in (existing or "").splitlines():
        m = _LINE.match(line)
        if m:
            comments[m.group("key")] = (len(m.group("key")) + 1 + len(m.group("value")) + len(m.group("pad")), m.group("comment"))
        elif not comments:
            header.append(line)
    out = list(header)
    for key, value in defaults(engine).items():
        text = f"{key}: {_scalar(value)}"
        column, comment = comments.get(key, (0, None))
        if comment:
            text = text.ljust(column) if len(text) < column else text + " "
            text += comment
        out.append(text)
    return "\n".join(out) + "\n"


def stale(names=None) -> list[str]:
    """The built-in engines whose YAML differs from what their settings model gives."""
    found = builtin_engines()
    names = list(found) if names is None else names
    return [
        n for n in names if not yaml_path(n).is_file() or yaml_path(n).read_text() != render(found[n], yaml_path(n).read_text())
    ]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in argv
    names = [a for a in argv if not a.startswith("-")] or None
    differ = stale(names)
    if check:
        for n in differ:
            print(f"conf/backend/{n}.yaml differs from {builtin_engines()[n].settings}: run python -m llem.backends.configs {n}")
        return 1 if differ else 0
    for n in differ:
        path = yaml_path(n)
        path.write_text(render(builtin_engines()[n], path.read_text() if path.is_file() else None))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

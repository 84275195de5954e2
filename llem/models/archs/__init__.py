"""Published architecture configs (config.json facts) to build random-weight models offline."""

from __future__ import annotations

import json
from pathlib import Path

_DIR = Path(__file__).parent


def arch_names() -> list[str]:
    return sorted(p.stem for p in _DIR.glob("*.json"))


def load_arch(name: str) -> dict:
    return json.loads((_DIR / f"{name}.json").read_text())

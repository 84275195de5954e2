"""Where llem keeps converted and generated models between runs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("LLEM_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llem"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path

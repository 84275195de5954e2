"""Used by benchmarks/mutation.sh: remove from a `pip --target` folder every distribution whose
top-level modules the running interpreter (the project's venv) already imports, so that putting the
folder on PYTHONPATH adds mutmut and its missing dependencies without shadowing the venv's copies."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path


def top_levels(dist_info: Path) -> set[str]:
    names = set()
    for line in (dist_info / "RECORD").read_text().splitlines():
        first = line.split(",", 1)[0].split("/", 1)[0]
        if first and not first.endswith((".dist-info", ".pth")) and first not in ("bin", "__pycache__", ".."):
            names.add(first)
    return names


def main(target: Path) -> None:
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != target.resolve()]
    for dist in sorted(target.glob("*.dist-info")):
        tops = top_levels(dist)
        modules = {t.removesuffix(".py") for t in tops}
        if modules and all(importlib.util.find_spec(m) is not None for m in modules):
            for t in tops:
                path = target / t
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            shutil.rmtree(dist)
            print(f"pruned {dist.name} (the venv has it)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""CI: print every skipped test with its reason, and fail when one is not in .ci/allowed-skips.txt.

tests/conftest.py appends one JSON line per skipped test to $LLEM_SKIPS_FILE; .ci/run calls this
after pytest. A skip outside the list (a GPU-only test is the only kind allowed) means CI lost a
service or an engine it provisions, and must not stay green.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path


def allowed_patterns(path: Path) -> list[str]:
    lines = [ln.split(" | ", 1)[0].strip() for ln in path.read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def main(skips_file: str, allow_file: str) -> int:
    path = Path(skips_file)
    skips = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []
    patterns = allowed_patterns(Path(allow_file))
    bad = [s for s in skips if not any(fnmatch.fnmatchcase(s["test"], p) for p in patterns)]
    print(f"== skipped tests: {len(skips)} ({len(skips) - len(bad)} allowed GPU-only, {len(bad)} not allowed)")
    for s in skips:
        mark = "allowed" if s not in bad else "NOT ALLOWED"
        print(f"  [{mark}] {s['test']}: {s['reason']}")
    if bad:
        print(f"CI fails: {len(bad)} test(s) skipped that CI should run (see {allow_file})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

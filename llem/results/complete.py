"""Whether a job is done: the one rule, used by the job itself and by the launchers that skip
finished jobs before starting anything.

A job is complete when its run directory holds a readable result.json with status ok (written
last and atomically, llem.app). A failure record, an interrupted record, a half-written or
unreadable result, or no result at all is not complete: that job is measured again."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llem import paths
from llem.results.io import read_json


def complete_result(run_dir: Path) -> Optional[dict]:
    """The complete result in run_dir, or None."""
    path = Path(run_dir) / paths.RESULT
    if not path.is_file():
        return None
    try:
        result = read_json(path)
    except (OSError, ValueError):
        return None
    return result if result.get("status") == "ok" else None


def result_to_keep(spec) -> Optional[dict]:
    """The complete result a job would keep instead of measuring (None: it must run; run.force
    always runs)."""
    return None if spec.run.force else complete_result(paths.spec_run_dir(spec))

"""Shared pieces of the fault-injection tests: a small CPU job and checks of what is left on disk."""

from __future__ import annotations

import json
from pathlib import Path

# One small job of the tiny model on CPU: seconds per point.
TINY = ["model=tiny", "hardware=cpu", "workload.num_prompts=2", "workload.batch_size=2", "workload.output_tokens=4",
        "run.repeats=1", "run.warmup=0", "energy.baseline_s=0", "tracking=none", "-q"]


def run_dirs(root: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted((Path(root) / "runs").iterdir())} if (Path(root) / "runs").is_dir() else {}


def complete_result(run_dir: Path) -> dict:
    """The run's result.json, parsed, asserting it is a whole, successful result."""
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "ok" and result["identity"]["run_id"] == run_dir.name
    assert result["windows"] and all(w["output_tokens"] > 0 for w in result["windows"])
    return result


def temp_files(root: Path) -> list[Path]:
    """Leftovers of atomic writes (.<name>.<random>) anywhere under the runs folder."""
    return [p for p in (Path(root) / "runs").glob("**/.*") if p.is_file()]


def no_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" not in text

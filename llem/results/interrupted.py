"""<run_dir>/interrupted.json: a job stopped by a signal. It keeps what was measured before the
stop (for inspection) but is never a result: `status` is "interrupted", no headline metrics are
computed from its windows, and re-running the same command measures the job again."""

from __future__ import annotations

from typing import Optional

from llem.host.interrupt import signal_name
from llem.results.schema import stopped_record


def interrupted_record(
    spec_dict: dict, run_id: str, config_hash: str, signum: int, partial: Optional[dict], started: float, repeats: int
) -> dict:
    partial = partial or {}
    windows = list(partial.get("windows") or [])
    stage = partial.get("stage")
    where = f"during: {stage}" if stage else "before its measurement began"
    return {
        **stopped_record("interrupted", spec_dict, run_id, config_hash, started),
        "interrupted": {
            "signal": signal_name(signum),
            "stage": stage,
            "windows_measured": len(windows),
            "windows_requested": repeats,
        },
        "error": {
            "type": "Interrupted",
            "message": f"stopped by {signal_name(signum)} {where} ({len(windows)} of {repeats} window(s) "
            f"measured, kept here for inspection; not a result: re-run to measure it)",
        },
        "windows_measured": windows,
    }

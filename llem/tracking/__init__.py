"""Experiment tracking. track() is called once per job after its files are on disk."""

from __future__ import annotations


def track(spec, run_dir, record: dict) -> None:
    """Log one job's record (a result or a failure) to the configured tracker; never raises."""
    if spec.tracking.name == "none":
        return

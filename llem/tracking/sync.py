"""`llem sync [output_root]`: upload to MLflow the runs that could not be logged when they ran.

A run is found in MLflow by its llem.measurement_id tag, so syncing twice, or syncing a run that
did reach MLflow, never creates a duplicate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Optional

from llem import paths
from llem.errors import UserError
from llem.host.progress import console
from llem.results.complete import read_result
from llem.results.io import read_json
from llem.tracking.marker import read_marker
from llem.tracking.mlflow_store import TrackerUnavailable
from llem.tracking.settings import check_uri, resolve_uri
from llem.tracking.upload import log_run

# Called with (record, run_dir) before a run is uploaded (the CLI passes the power plot's maker).
Prepare = Optional[Callable[[dict, Path], object]]

USAGE = "llem sync [OUTPUT_ROOT] [--uri URI] [--experiment NAME] [--all]"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llem sync", description="Upload runs that were measured while MLflow was unreachable.")
    p.add_argument("output_root", nargs="?", default="outputs", help="llem's run.output_root (default: outputs)")
    p.add_argument("--uri", help="tracking URI to upload to (default: the one each run was configured with)")
    p.add_argument("--experiment", help="MLflow experiment (default: the one each run was configured with)")
    p.add_argument(
        "--all", action="store_true", help="also upload runs measured with tracking=none (default: only runs marked unsynced)"
    )
    return p


def _record(run_dir: Path):
    """The run's complete result (llem.results.complete: a hollow result.json is never uploaded),
    else its failure record."""
    result, problem = read_result(run_dir)
    if result is not None or problem is not None:
        return result
    try:
        return read_json(run_dir / paths.FAILURE)
    except (OSError, ValueError):
        return None


def pending(run_dirs, include_untracked: bool = False) -> list[tuple[Path, dict, dict]]:
    """(run_dir, record, marker) of every run among run_dirs that still has to reach MLflow."""
    out = []
    for run_dir in run_dirs:
        record = _record(Path(run_dir))
        if record is None:
            continue
        marker = read_marker(Path(run_dir))
        if marker is None and not include_untracked:
            continue
        if marker is not None and marker.get("synced"):
            continue
        out.append((Path(run_dir), record, marker or {}))
    return out


def sync_runs(
    items: list[tuple[Path, dict, dict]], uri: str | None = None, experiment: str | None = None, prepare: Prepare = None
) -> dict:
    """Upload pending runs; a store that failed once is not tried again for the rest (fail fast).
    prepare(record, run_dir), where given, runs before each upload (e.g. makes the power plot)."""
    counts = {"uploaded": 0, "already_in_mlflow": 0, "failed": 0}
    errors, down = [], {}
    if uri:
        check_uri(uri)
    for run_dir, record, marker in items:
        target = resolve_uri(uri) if uri else marker.get("uri") or resolve_uri("sqlite:///mlflow.db")
        exp = experiment or marker.get("experiment") or "llem"
        if target in down:
            counts["failed"] += 1
            errors.append(f"{run_dir.name}: {down[target]}")
            continue
        if prepare is not None:
            prepare(record, run_dir)
        try:
            _, created = log_run(run_dir, record, target, exp, marker.get("sweep"))
        except TrackerUnavailable as exc:
            counts["failed"] += 1
            errors.append(f"{run_dir.name}: {exc}")
            down[target] = str(exc)
            continue
        counts["uploaded" if created else "already_in_mlflow"] += 1
    return {"counts": counts, "errors": errors}


def sync(
    root: Path, uri: str | None = None, experiment: str | None = None, include_untracked: bool = False, prepare: Prepare = None
) -> dict:
    run_dirs = sorted(p for p in paths.runs_dir(root).glob("*/") if p.is_dir())
    return sync_runs(pending(run_dirs, include_untracked), uri, experiment, prepare)


def main(argv: list[str], prepare: Prepare = None) -> int:
    import sys

    args = _parser().parse_args(argv)
    root = Path(args.output_root)
    try:
        if not paths.runs_dir(root).is_dir():
            raise UserError(f"{root} holds no runs/ folder: give llem's run.output_root (default: outputs), e.g. {USAGE}.")
        outcome = sync(root, args.uri, args.experiment, args.all, prepare)
    except UserError as exc:
        print(f"llem: error: {exc}", file=sys.stderr)
        return 2
    c = outcome["counts"]
    console().print(
        f"[bold]llem sync:[/bold] {c['uploaded']} uploaded, {c['already_in_mlflow']} already in MLflow, {c['failed']} failed"
    )
    for line in outcome["errors"]:
        console().print(f"  [red]not uploaded[/red] {line}")
    return 1 if c["failed"] else 0

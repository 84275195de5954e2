"""Find the runs a report is about and load their records (result.json or failure.json)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from llem import paths
from llem.bundle.archive import BundleError, extract_verified, verify
from llem.errors import UserError
from llem.results.complete import read_result
from llem.results.io import read_json
from llem.tracking.mlflow_store import TrackerUnavailable, connect
from llem.tracking.settings import check_uri, resolve_uri
from llem.sweep.summary import summarize_sweep

MLFLOW_PREFIX = "mlflow:"


@dataclass
class Run:
    record: dict
    run_dir: Optional[Path]  # where result.json and the time series live (a download for MLflow)

    @property
    def ok(self) -> bool:
        return self.record.get("status") == "ok"


# Records found but not trusted (a result.json that does not validate): (run dir, why), for the caller to name.
SKIPPED: list[tuple[Path, str]] = []


def _load(run_dir: Path) -> Optional[Run]:
    """A run's record: its complete result (llem.results.complete, the one reader), else its failure
    record; a result.json that does not validate is never read as a result (kept in SKIPPED)."""
    result, problem = read_result(run_dir)
    if result is not None:
        return Run(result, run_dir)
    if problem is not None:
        SKIPPED.append((run_dir, problem))
    path = run_dir / paths.FAILURE
    if problem is None and path.is_file():
        try:
            record = read_json(path)
        except (OSError, ValueError):
            return None
        return Run(record, run_dir) if isinstance(record, dict) and record.get("status") == "failed" else None
    return None


def skipped_lines() -> list[str]:
    """One line per record left out because it is not a complete result (then forgets them)."""
    lines = [
        f"left out {d}: its {paths.RESULT} is not a complete result ({why}); the next run of its configuration measures it again"
        for d, why in SKIPPED
    ]
    SKIPPED.clear()
    return lines


def _sweep_run_dirs(sweep_dir: Path) -> list[Path]:
    try:
        summary = read_json(sweep_dir / paths.SWEEP_SUMMARY)
    except (OSError, ValueError):
        summary = summarize_sweep(sweep_dir, since_unix_s=0.0)
    return [Path(j["run_dir"]) for j in summary["jobs"] if j.get("run_dir")]


def _output_roots(path: Path, depth: int = 3) -> list[Path]:
    """Output roots (folders with runs/) below path, at most `depth` levels down, not inside one another."""
    found, level = [], [path]
    for _ in range(depth):
        nxt = []
        for d in level:
            for child in sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith(".")):
                (found if paths.runs_dir(child).is_dir() else nxt).append(child)
        level = nxt
    return found


def from_directory(path: Path) -> list[Run]:
    path = Path(path)
    if any((path / name).is_file() for name in paths.RECORDS):
        dirs = [path]
    elif paths.runs_dir(path).is_dir():
        dirs = sorted(p for p in paths.runs_dir(path).iterdir() if p.is_dir())
    elif any(path.glob(f"*/{paths.HYDRA_JOB_CONFIG}")):
        dirs = _sweep_run_dirs(path)
    elif _output_roots(path):  # a folder of output roots (e.g. one per machine or engine): one report over all
        dirs = sorted(p for root in _output_roots(path) for p in paths.runs_dir(root).iterdir() if p.is_dir())
    else:
        raise UserError(
            f"{path} is not a run dir, a sweep dir or an output root: give a folder with result.json, "
            f"with runs/ (run.output_root), with the numbered job folders of a --multirun sweep, or "
            f"a folder holding output roots."
        )
    return [r for r in (_load(d) for d in dirs) if r is not None]


def from_mlflow(experiment: str, uri: str, cache_dir: Path) -> list[Run]:
    """Download each job run's result.json (and time series) of an MLflow experiment."""
    try:
        client = connect(uri)
    except TrackerUnavailable as exc:
        raise UserError(f"the MLflow store could not be read ({exc}): check --uri.") from None
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = [e.name for e in client.search_experiments()]
        raise UserError(
            f"mlflow:{experiment} is not an experiment in {uri}: choose one of {', '.join(sorted(names)) or '(none)'}."
        )
    runs = []
    for mlrun in _one_per_config(
        client.search_runs([exp.experiment_id], filter_string="tags.`llem.role` = 'job'", max_results=5000)
    ):
        dest = cache_dir / mlrun.info.run_id
        dest.mkdir(parents=True, exist_ok=True)
        names = {a.path for a in client.list_artifacts(mlrun.info.run_id)}
        for name in (*paths.RECORDS, paths.TIMESERIES, paths.CONFIG, paths.ENVIRONMENT):
            if name in names and not (dest / name).exists():
                client.download_artifacts(mlrun.info.run_id, name, str(dest))
        run = _load(dest)
        if run is not None:
            runs.append(run)
    return runs


def _one_per_config(mlruns: list) -> list:
    """The run to show of each configuration (tag llem.run_id): its newest complete one, else its
    newest. llem replaces a configuration's earlier runs as it logs (llem.tracking.mlflow_store.
    supersede); a store written by an older llem may still hold several."""
    best: dict = {}
    for r in mlruns:
        key = r.data.tags.get("llem.run_id") or r.info.run_id
        rank = (r.data.tags.get("llem.status") == "ok", r.info.start_time or 0)
        if key not in best or rank > best[key][0]:
            best[key] = (rank, r)
    return [r for _, r in best.values()]


def from_bundle(path: Path, cache_dir: Path) -> list[Run]:
    """The runs of a bundle from `llem export`, after checking it against its manifest."""
    try:
        _, problems, _ = verify(path)
    except BundleError as exc:
        raise UserError(f"{exc}: give a bundle written by llem export, a folder, or mlflow:EXPERIMENT.") from None
    if problems:
        raise UserError(
            f"the bundle {path} does not match its manifest ({problems[0]}; "
            f"{len(problems)} problem(s) in all, listed by llem verify {path})."
        )
    shutil.rmtree(cache_dir, ignore_errors=True)  # llem's own unpack folder: no runs left from an earlier bundle
    return from_directory(extract_verified(path, cache_dir))


def collect(source: str, uri: Optional[str], cache_dir: Path) -> list[Run]:
    """The runs of SOURCE; downloads (MLflow) and unpacked bundles go under cache_dir."""
    if source.startswith(MLFLOW_PREFIX):
        uri = uri or "sqlite:///mlflow.db"
        check_uri(uri)
        return from_mlflow(source[len(MLFLOW_PREFIX) :] or "llem", resolve_uri(uri), cache_dir / "mlflow_runs")
    path = Path(source)
    if path.is_file():
        return from_bundle(path, cache_dir / "bundle")
    if not path.is_dir():
        raise UserError(
            f"{source} is not a folder or a file: give a sweep dir, an output root (e.g. outputs), a run dir, "
            f"a bundle from llem export (.tar.gz), or mlflow:EXPERIMENT for an MLflow experiment."
        )
    return from_directory(path)

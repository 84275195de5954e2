"""Talking to MLflow: connect (failing fast when the store is unreachable), find or create the
experiment, the sweep's parent run and a job's run, and upload a record without duplicates.
`mlflow` is imported here only, and only when tracking is used."""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from llem.tracking import payload
from llem.tracking.urls import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG

_CLIENTS: dict[str, object] = {}


class TrackerUnavailable(Exception):
    """The tracking store could not be reached or refused a write."""


def _probe_http(uri: str, timeout_s: float) -> None:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - user-configured tracking URI
            if resp.status != 200:
                raise TrackerUnavailable(f"the MLflow server at {uri} answered /health with HTTP {resp.status}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackerUnavailable(f"no MLflow server answered at {uri} ({reason})") from None


@contextmanager
def _schema_lock(uri: str):
    """For a SQLite store: one process at a time creates or migrates its schema. MLflow runs its
    migrations on first open, and jobs opening a fresh store together (a sweep's parallel jobs, Slurm
    array tasks) race in them ("table experiments already exists", "duplicate column name"). An
    exclusive lock on <db>.lock beside it serialises that first open; other stores need none."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    fd = os.open(uri[len("sqlite:///") :] + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def connect(uri: str, timeout_s: float = 10.0):
    """An MlflowClient for uri; TrackerUnavailable at once if the store is not there."""
    from urllib.parse import urlparse

    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        _probe_http(uri, timeout_s)
        # MLflow's own default retries with backoff for minutes; a measurement must not wait on that.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(int(timeout_s * 3), 10)))
    elif scheme == "sqlite":
        db = Path(uri[len("sqlite:///") :])
        if not db.parent.is_dir():
            raise TrackerUnavailable(f"the folder of the SQLite tracking store {db} does not exist")
        # SQLite writes a journal beside the database: an unwritable folder (or file) fails every write,
        # and MLflow retries creating a new store for minutes whatever tracking.timeout_s says
        if not os.access(db.parent, os.W_OK | os.X_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise TrackerUnavailable(
                f"the SQLite tracking store {db} cannot be written (its "
                f"{'file' if db.exists() and os.access(db.parent, os.W_OK) else 'folder'} is read-only)"
            )
    if uri in _CLIENTS:
        return _CLIENTS[uri]
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):  # after the import: mlflow sets its loggers up on import
        logging.getLogger(name).setLevel(logging.WARNING)

    try:
        with _schema_lock(uri):
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)  # touches the store (creates a new SQLite schema)
    except Exception as exc:
        raise TrackerUnavailable(f"the tracking store {uri} could not be opened ({type(exc).__name__}: {exc})") from None
    _CLIENTS[uri] = client
    return client


def experiment_id(client, name: str) -> str:
    """The experiment's id, created if absent and marked as a model-training experiment (see
    llem/tracking/urls.py) unless someone gave it a kind of their own."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except Exception:  # another job created it a moment ago
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    if EXPERIMENT_KIND_TAG not in (exp.tags or {}):  # an experiment made by an older llem or by hand
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return exp.experiment_id


def find_runs(client, exp_id: str, tag: str, value: str) -> list:
    value = value.replace("'", "")
    return list(client.search_runs([exp_id], filter_string=f"tags.`{tag}` = '{value}'", max_results=50))


def ensure_parent(client, exp_id: str, sweep: dict, overrides: Optional[list[str]] = None) -> str:
    """The sweep's parent run (found by its llem.sweep_id tag, created if absent)."""
    for run in find_runs(client, exp_id, "llem.sweep_id", sweep["sweep_id"]):
        if run.data.tags.get("llem.role") == "sweep":
            return run.info.run_id
    tags = {
        "mlflow.runName": f"sweep {sweep.get('name') or sweep['sweep_id']}",
        "llem.role": "sweep",
        "llem.sweep_id": sweep["sweep_id"],
        "llem.sweep": sweep.get("name") or "",
    }
    if sweep.get("dir"):
        tags["llem.sweep_dir"] = str(sweep["dir"])
    if overrides:
        tags["llem.sweep_overrides"] = " ".join(overrides)[: payload.MAX_TAG_CHARS]
    started = sweep.get("started_unix_s")
    run = client.create_run(exp_id, start_time=int(1000 * started) if started else None, tags=tags)
    return run.info.run_id


def _parent_exists(client, exp_id: str, run_id: Optional[str]) -> bool:
    """A parent id from the environment may belong to another store (a different tracking.uri)."""
    if not run_id:
        return False
    try:
        return client.get_run(run_id).info.experiment_id == exp_id
    except Exception:
        return False


def finish_parent(client, parent_id: str, counts: dict, status: str = "FINISHED", note: Optional[str] = None) -> None:
    """End the sweep's parent run with its job counts; `note` (llem.sweep_progress) says how far a
    stopped sweep got, and such a sweep ends KILLED."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(parent_id, metrics=[Metric(f"jobs_{k}", float(v), now, 0) for k, v in counts.items()])
    if note:
        client.set_tag(parent_id, "llem.sweep_progress", note[: payload.MAX_TAG_CHARS])
    client.set_terminated(parent_id, status=status, end_time=now)


def upload(
    client,
    exp_id: str,
    run_dir: Path,
    record: dict,
    sweep: Optional[dict],
    artifacts: bool = True,
    environment: Optional[dict] = None,
) -> tuple[str, bool]:
    """Log one job's record as an MLflow run. Returns (mlflow run id, created: False if it was there).

    A run is identified by its llem.measurement_id tag; one left incomplete by an earlier crash
    is deleted and logged again, so the store never holds the same measurement twice; and it
    replaces the earlier runs of its configuration (supersede), so it holds one run per config."""
    from mlflow.entities import Metric, Param

    mid = payload.measurement_id(record)
    for run in find_runs(client, exp_id, "llem.measurement_id", mid):
        if run.data.tags.get("llem.upload_complete") == "true":
            if run.info.status == "RUNNING":  # the store went away after the data, before the run was closed
                _close(client, exp_id, run.info.run_id, record)
            return run.info.run_id, False
        client.delete_run(run.info.run_id)
    if sweep and not _parent_exists(client, exp_id, sweep.get("parent_run_id")):
        # The sweep's start could not open its parent run (store down): open it now, closed at once.
        sweep = dict(sweep, parent_run_id=ensure_parent(client, exp_id, sweep))
        if client.get_run(sweep["parent_run_id"]).info.status == "RUNNING":
            client.set_terminated(sweep["parent_run_id"], status="FINISHED")
    ident = record.get("identity", {})
    started = ident.get("started_unix_s")
    tags = payload.tags(record, sweep)
    run = client.create_run(exp_id, start_time=int(1000 * started) if started else None, tags=tags)
    run_id = run.info.run_id
    params = [Param(k, v) for k, v in payload.params(record, environment).items()]
    metrics = [Metric(k, v, ts, step) for k, v, ts, step in payload.metrics(record)]
    for i in range(0, max(len(params), 1), 100):  # MLflow's log_batch limits: 100 params, 1000 metrics
        client.log_batch(run_id, params=params[i : i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])
    if artifacts:
        for path, folder in payload.artifact_files(run_dir, record):
            client.log_artifact(run_id, str(path), artifact_path=folder)
    client.set_tag(run_id, "llem.upload_complete", "true")
    _close(client, exp_id, run_id, record)
    return run_id, True


def _close(client, exp_id: str, run_id: str, record: dict) -> None:
    """Close a fully logged run with the record's status and end time, and let it replace the earlier runs of its
    configuration; also what `llem sync` finishes where the store went away between the two."""
    finished = record.get("identity", {}).get("finished_unix_s")
    ended = {"ok": "FINISHED", "interrupted": "KILLED"}.get(record.get("status"), "FAILED")
    client.set_terminated(run_id, status=ended, end_time=int(1000 * finished) if finished else None)
    supersede(client, exp_id, run_id, record)


def supersede(client, exp_id: str, new_id: str, record: dict) -> list[str]:
    """One MLflow run per configuration (llem.run_id): a newly logged record replaces the earlier
    runs of its configuration, which are tagged llem.superseded_by and deleted (MLflow's deletion
    is soft: `mlflow runs restore --run-id ID` brings one back until `mlflow gc`). As on disk,
    where a failure never removes a result.json, a failed or interrupted record replaces only
    earlier failed or interrupted ones, never a complete result. Returns the ids replaced."""
    ident = record.get("identity", {})
    if not ident.get("run_id"):
        return []
    replaced = []
    for run in find_runs(client, exp_id, "llem.run_id", str(ident["run_id"])):
        tags = run.data.tags
        if run.info.run_id == new_id or tags.get("llem.role") != "job":
            continue
        if record.get("status") != "ok" and tags.get("llem.status") == "ok":
            continue
        client.set_tag(run.info.run_id, "llem.superseded_by", new_id)
        client.delete_run(run.info.run_id)
        replaced.append(run.info.run_id)
    return replaced

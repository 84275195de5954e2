"""MLflow holds one run per configuration (llem.tracking.mlflow_store.supersede): a re-measurement
replaces the earlier run, a failure never replaces a complete result, and `llem report mlflow:...`
shows one row per configuration (issue 28, 5)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))

from realistic import write_trace_run  # noqa: E402

from llem.report.collect import collect  # noqa: E402
from llem.tracking.upload import log_run  # noqa: E402


def test_one_run_per_config_and_one_report_row(tmp_path):
    from mlflow.tracking import MlflowClient

    run_dir = write_trace_run(tmp_path / "outputs")
    first = json.loads((run_dir / "result.json").read_text())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    old_id, _ = log_run(run_dir, first, uri, "upsert", sweep=None)

    again = json.loads(json.dumps(first))  # run.force=true: the same config measured again, later
    again["identity"]["started_unix_s"] += 3600
    again["identity"]["finished_unix_s"] += 3600
    (run_dir / "result.json").write_text(json.dumps(again))
    new_id, created = log_run(run_dir, again, uri, "upsert", sweep=None)
    assert created and new_id != old_id

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("upsert").experiment_id
    assert [r.info.run_id for r in client.search_runs([exp])] == [new_id]
    replaced = client.get_run(old_id)  # soft-deleted, kept (mlflow runs restore), and says by what
    assert replaced.info.lifecycle_stage == "deleted" and replaced.data.tags["llem.superseded_by"] == new_id

    failed = {k: first[k] for k in ("schema_version", "identity", "spec")} | {
        "status": "failed",
        "error": {"type": "X", "message": "boom"},
    }
    failed["identity"] = dict(first["identity"], started_unix_s=first["identity"]["started_unix_s"] + 7200)
    fail_id, _ = log_run(run_dir, failed, uri, "upsert", sweep=None)
    assert {r.info.run_id for r in client.search_runs([exp])} == {new_id, fail_id}  # the result stays

    runs = collect("mlflow:upsert", uri, tmp_path / "cache")
    assert len(runs) == 1 and runs[0].ok
    assert runs[0].record["identity"]["started_unix_s"] == again["identity"]["started_unix_s"]


def test_an_unwritable_sqlite_store_fails_at_once(tmp_path):
    """Issue 28: a new store in a read-only folder took 106-118 s of MLflow's retries; refused at once."""
    import os
    import subprocess

    import pytest

    from llem.tracking.mlflow_store import TrackerUnavailable, connect

    store = tmp_path / "store"
    store.mkdir()
    if os.geteuid() == 0:  # root writes anywhere, except into an immutable folder
        if subprocess.run(["chattr", "+i", str(store)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not permitted here")
    else:
        store.chmod(0o500)
    try:
        with pytest.raises(TrackerUnavailable, match="cannot be written"):  # before MLflow is asked at all
            connect(f"sqlite:///{store / 'mlflow.db'}", timeout_s=5)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(store)])
        else:
            store.chmod(0o700)


def test_sync_closes_a_complete_run_the_store_left_open_and_lets_it_replace_the_earlier_one(tmp_path):
    """The store went away after a run's data and its upload_complete tag, before the run was closed (seen in CI:
    an MLflow server stopped mid-sweep): `llem sync` counts it as already in MLflow and closes it, with the
    record's status and end time, and the earlier run of its configuration is replaced as on a first upload."""
    from mlflow.tracking import MlflowClient

    run_dir = write_trace_run(tmp_path / "outputs")
    first = json.loads((run_dir / "result.json").read_text())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    old_id, _ = log_run(run_dir, first, uri, "left-open", sweep=None)

    again = json.loads(json.dumps(first))
    again["identity"]["started_unix_s"] += 3600
    again["identity"]["finished_unix_s"] += 3600
    (run_dir / "result.json").write_text(json.dumps(again))
    new_id, _ = log_run(run_dir, again, uri, "left-open", sweep=None)
    client = MlflowClient(tracking_uri=uri)
    client.restore_run(old_id)  # as if the new upload had stopped before closing and superseding
    client.update_run(new_id, status="RUNNING")

    run_id, created = log_run(run_dir, again, uri, "left-open", sweep=None)
    assert (run_id, created) == (new_id, False)
    closed = client.get_run(new_id).info
    assert closed.status == "FINISHED" and closed.end_time == int(1000 * again["identity"]["finished_unix_s"])
    assert client.get_run(old_id).info.lifecycle_stage == "deleted"

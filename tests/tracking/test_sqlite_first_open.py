"""Jobs that open a fresh SQLite tracking store at the same moment (a sweep's parallel jobs, Slurm
array tasks on a shared folder) all get it: MLflow creates and migrates the schema on first open,
and without llem's lock around that open they raced ("table experiments already exists",
alembic "expected to match one row", "duplicate column name")."""

from __future__ import annotations

import subprocess
import sys
import time

from conftest import llem_env

OPENER = """
import os, sys, time
from pathlib import Path
import mlflow.tracking  # the slow import first, so that every process opens at the go signal
from llem.tracking.mlflow_store import connect
go = Path(sys.argv[2])
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.005)
try:
    client = connect("sqlite:///" + sys.argv[1])
    print("opened", len(client.search_experiments()))
except Exception as exc:
    print("failed", exc)
"""


def test_four_jobs_opening_a_fresh_store_together_all_get_it(tmp_path):
    db, go = tmp_path / "mlflow.db", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(db), str(go)],
            env=llem_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 4:  # every opener has imported mlflow and waits for the signal
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [p.poll() for p in procs]
        time.sleep(0.05)
    go.touch()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all("opened 1" in out for out in outs), outs  # the Default experiment, in one schema

"""The lab set-up of docs/tracking.md: `mlflow server` on PostgreSQL with an artifact root on disk.
A two-job sweep lands as one parent and two child runs, in the database's own tables, with each
job's files written under the artifact root. Skipped without the CI's PostgreSQL."""

from __future__ import annotations

from conftest import run_llem
from mlflow_server import tags

import pytest

pytestmark = pytest.mark.slow

TINY = [
    "model=tiny",
    "hardware=cpu",
    "energy=none",
    "run.repeats=1",
    "run.warmup=0",
    "workload.num_prompts=1",
    "workload.batch_size=1",
    "workload.output_tokens=2",
]


def test_sweep_into_a_postgres_backed_server(postgres_mlflow, workdir):
    server = postgres_mlflow
    out = run_llem(
        [
            "--multirun",
            *TINY,
            "workload.input_tokens=8,16",
            f"tracking.uri={server.uri}",
            "tracking.experiment=lab",
            "run.output_root=out",
        ],
        cwd=workdir,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    runs = server.runs("lab")
    parents = [r for r in runs if tags(r).get("llem.role") == "sweep"]
    children = [r for r in runs if tags(r).get("llem.role") == "job"]
    assert len(parents) == 1 and len(children) == 2
    # The runs are rows of PostgreSQL's tables (not a SQLite file beside the server).
    exp = server.database.scalar("SELECT experiment_id FROM experiments WHERE name = %s", "lab")
    assert server.database.scalar("SELECT count(*) FROM runs WHERE experiment_id = %s", exp) == 3
    # (the session's server is shared with tests/launchers/test_sweep_faults.py: counted within this experiment)
    assert (
        server.database.scalar(
            "SELECT count(*) FROM tags WHERE key = 'llem.run_id' AND run_uuid IN "
            "(SELECT run_uuid FROM runs WHERE experiment_id = %s)",
            exp,
        )
        == 2
    )
    for child in children:
        location = child["info"]["artifact_uri"]
        assert location.startswith(str(server.artifact_root)), location  # the artifact root on disk, no proxy
        folder = server.artifact_root / location[len(str(server.artifact_root)) :].lstrip("/")
        assert {"config.yaml", "result.json", "environment.json"} <= {p.name for p in folder.iterdir()}
    assert not (workdir / "mlflow.db").exists()

"""The tests' PostgreSQL-backed `mlflow server` fixture; the server itself is llem.testing.mlflow_postgres
(plain code, shared with benchmarks/, which import no test module)."""

from __future__ import annotations

import shutil

import pytest

from llem.testing.mlflow_postgres import (PostgresDatabase, PostgresMlflowServer, postgres_port, start_postgres_mlflow,
                                          stop_postgres_mlflow)

__all__ = ["PostgresDatabase", "PostgresMlflowServer", "postgres_mlflow", "postgres_port", "start_postgres_mlflow",
           "stop_postgres_mlflow"]


@pytest.fixture(scope="module")
def postgres_mlflow(tmp_path_factory):
    """A PostgreSQL-backed server for one test module: skipped when no PostgreSQL answers (or
    psycopg2 is missing); stopped by PID and its database dropped in the finalizer."""
    if shutil.which("psql") is None or postgres_port() is None:
        pytest.skip("no PostgreSQL answers (install: bash .ci/install.d/45-postgres.sh; "
                    "start: bash .ci/services.d/postgres.sh start)")
    server = start_postgres_mlflow(tmp_path_factory.mktemp("mlflow-postgres"))
    yield server
    stop_postgres_mlflow(server)

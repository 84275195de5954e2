"""The tests' PostgreSQL-backed `mlflow server` helpers; the server itself is llem.testing.mlflow_postgres
(plain code, shared with benchmarks/, which import no test module), and the tests share one server (the
`postgres_mlflow` fixture in tests/conftest.py)."""

from __future__ import annotations

from llem.testing.mlflow_postgres import (
    PostgresDatabase,
    PostgresMlflowServer,
    postgres_port,
    start_postgres_mlflow,
    stop_postgres_mlflow,
)

__all__ = ["PostgresDatabase", "PostgresMlflowServer", "postgres_port", "start_postgres_mlflow", "stop_postgres_mlflow"]

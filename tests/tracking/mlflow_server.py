"""The tracking tests' `mlflow server` helpers; the server itself is llem.testing.mlflow_server (plain code,
shared with benchmarks/, which import no test module), and the session's one server is the
`mlflow_server` fixture in tests/conftest.py."""

from __future__ import annotations

from llem.testing.mlflow_server import MlflowServer, free_port, metrics, params, tags

__all__ = ["MlflowServer", "free_port", "metrics", "params", "tags"]

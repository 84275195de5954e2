"""The tracking tests' `mlflow server` fixture; the server itself is llem.testing.mlflow_server (plain code,
shared with benchmarks/, which import no test module)."""

from __future__ import annotations

import pytest

from llem.testing.mlflow_server import MlflowServer, free_port, metrics, params, tags

__all__ = ["MlflowServer", "free_port", "metrics", "mlflow_server", "params", "tags"]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real server for the tests of one module; stopped by PID in the finalizer."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()

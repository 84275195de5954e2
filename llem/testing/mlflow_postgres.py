"""A real `mlflow server` backed by PostgreSQL, as a lab runs one: the CI's PostgreSQL
(.ci/services.d/postgres.sh, loopback, a fixed port), a fresh database per server, an artifact
root on disk (`--default-artifact-root`, a folder every job can write: on a cluster, shared
storage). Started on loopback and stopped by PID like `mlflow_server.MlflowServer`.

The tests (tests/tracking/mlflow_postgres.py's fixture) and benchmarks/lab_sweep.py use it."""

from __future__ import annotations

import os
import secrets
from contextlib import closing
from pathlib import Path

from llem.testing.mlflow_server import MlflowServer

STATE = Path(os.environ.get("LLEM_POSTGRES_STATE", "/tmp/llem-postgres"))  # .ci/services.d/postgres.sh
ADMIN_USER = "postgres"  # trust authentication on loopback: a CI database, never a lab's
OWNER = "mlflow"  # the role postgres.sh creates; MLflow's store connects as it


def postgres_port() -> int | None:
    """The port of the CI's PostgreSQL when it answers, else None."""
    try:
        port = int((STATE / "port").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        with closing(_connect(port, "postgres")):
            return port
    except Exception:  # psycopg2 missing or no server: the fixture says which
        return None


def _connect(port: int, dbname: str):
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user=ADMIN_USER, dbname=dbname, connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction (nor inside `with conn`)
    return conn


class PostgresDatabase:
    """One database of the CI's PostgreSQL, created fresh and dropped at the end."""

    def __init__(self, port: int, name: str | None = None):
        self.port = port
        self.name = name or f"mlflow_{secrets.token_hex(4)}"
        self.uri = f"postgresql+psycopg2://{OWNER}@127.0.0.1:{port}/{self.name}"

    def create(self) -> "PostgresDatabase":
        with closing(_connect(self.port, "postgres")) as conn, conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.name}" OWNER "{OWNER}"')
        return self

    def drop(self) -> None:
        with closing(_connect(self.port, "postgres")) as conn, conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def scalar(self, sql: str, *args):
        """One value from the store's own tables (e.g. count MLflow's runs in SQL)."""
        with closing(_connect(self.port, self.name)) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()[0]


class PostgresMlflowServer(MlflowServer):
    """`mlflow server --backend-store-uri postgresql://... --default-artifact-root <root>/artifacts`."""

    def __init__(self, root: Path, database: PostgresDatabase, port: int | None = None):
        super().__init__(root, port)
        self.database = database
        self.artifact_root = Path(root) / "artifacts"

    def store_args(self) -> list[str]:
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        # --no-serve-artifacts: runs record the artifact root's path and each job writes there
        # directly (on a cluster: a shared file system every node mounts at the same path).
        return [
            "--backend-store-uri",
            self.database.uri,
            "--default-artifact-root",
            str(self.artifact_root),
            "--no-serve-artifacts",
        ]


def start_postgres_mlflow(root: Path) -> PostgresMlflowServer:
    """A fresh database and a server on it; raise if the CI's PostgreSQL does not answer."""
    port = postgres_port()
    if port is None:
        raise RuntimeError(
            f"no PostgreSQL answers at the port in {STATE / 'port'} (start one with: bash .ci/services.d/postgres.sh start)"
        )
    db = PostgresDatabase(port).create()
    server = PostgresMlflowServer(root, db)
    try:
        return server.start()
    except Exception:
        db.drop()
        raise


def stop_postgres_mlflow(server: PostgresMlflowServer) -> None:
    server.stop()
    server.database.drop()

"""A real `mlflow server` on loopback for the tracking tests and benchmarks, started and stopped by PID."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from llem.testing.stopping import stop_group


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    def __init__(self, root: Path, port: int | None = None):
        self.root = Path(root)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.uri = f"http://127.0.0.1:{self.port}"

    def store_args(self) -> list[str]:
        """Where the server keeps runs and artifacts: a SQLite file and a proxied artifact folder."""
        return [
            "--backend-store-uri",
            f"sqlite:///{self.root / 'store.db'}",
            "--artifacts-destination",
            str(self.root / "artifacts"),
        ]

    def start(self, timeout_s: float = 120) -> "MlflowServer":
        self.root.mkdir(parents=True, exist_ok=True)
        mlflow = Path(sys.executable).with_name("mlflow")
        log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen(
            [str(mlflow), "server", *self.store_args(), "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with {self.proc.returncode}: {(self.root / 'server.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer /health within {timeout_s} s")

    def stop(self) -> None:
        """Stop the server we started: its PID leads its own session, so signal that group."""
        if self.proc is None or self.proc.poll() is not None:
            return
        stop_group(self.proc)
        # uvicorn's worker may outlive the group leader by a moment; wait until the port is free.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.3)

    # --- MLflow's REST API (what the UI and any client see) ---
    def get(self, path: str, **query) -> dict:
        url = f"{self.uri}/api/2.0/mlflow/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(
            f"{self.uri}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def runs(self, experiment: str) -> list[dict]:
        exp = self.get("experiments/get-by-name", experiment_name=experiment)["experiment"]["experiment_id"]
        return self.post("runs/search", {"experiment_ids": [exp], "max_results": 1000}).get("runs", [])

    def artifacts(self, run_id: str, path: str = "") -> list[str]:
        q = {"run_id": run_id, **({"path": path} if path else {})}
        return [f["path"] for f in self.get("artifacts/list", **q).get("files", [])]


def tags(run: dict) -> dict:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def params(run: dict) -> dict:
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


def metrics(run: dict) -> dict:
    return {m["key"]: m["value"] for m in run["data"].get("metrics", [])}

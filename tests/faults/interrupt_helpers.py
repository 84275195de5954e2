"""Running llem as a terminal or a batch system would, and checking what a signal left behind
(tests/faults/test_interrupt.py, tests/launchers/test_launcher_stop.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import llem_env, process_gone


class Llem:
    """llem started in its own session (it leads its process group, as in a terminal or a batch job)."""

    def __init__(self, args: list[str], cwd: Path, env: dict | None = None):
        self.args, self.cwd, self.env = args, cwd, env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llem", *args],
            cwd=cwd,
            env=llem_env(**{**(env or {}), "COLUMNS": 200}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.seen: set[int] = set()  # every process of its session seen while it ran
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, ready, what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, f"llem exited before {what}:\n{self.output[-3000:]}"
            assert time.monotonic() < deadline, f"never {what}:\n{self.output[-3000:]}"
            self.seen |= session_pids(self.proc.pid)
            time.sleep(0.05)
        self.seen |= session_pids(self.proc.pid)

    def printed(self, text: str, times: int = 1) -> bool:
        return self.output.count(text) >= times

    def signal_group(self, sig: int) -> float:
        os.killpg(self.proc.pid, sig)
        return time.monotonic()

    def finish(self, timeout: float = 120) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return rc


def session_pids(sid: int) -> set[int]:
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:  # field 6 of /proc/pid/stat: the session id
            pids.add(int(stat.parent.name))
    return pids


def assert_nothing_left(run: Llem, root: Path, others: set[int] = frozenset()) -> None:
    """No process of llem's session, no engine server and none of `others` is left. `others`: the
    job's processes where they run outside llem's session (a Slurm job's, under slurmstepd)."""
    servers = [json.loads(p.read_text())["pid"] for p in root.glob("runs/*/server.json")] + list(others)
    deadline = time.monotonic() + 10  # the kernel reaps an orphan's zombie a moment after its parent exits
    while time.monotonic() < deadline and not all(process_gone(p) for p in run.seen | set(servers)):
        time.sleep(0.1)
    left = sorted(p for p in run.seen | set(servers) if not process_gone(p))
    assert not left, f"processes outlived the run: {left}"
    if not others:
        assert len(run.seen) >= 2, "the measurement worker was never seen"  # llem and its worker at least


def sweep_summary(root: Path) -> list[dict]:
    (path,) = [p for p in (root / "hydra" / "sweeps").glob("*/llem_sweep_summary.json") if not p.parent.name.startswith("first-")]
    return json.loads(path.read_text())["jobs"]


def set_summary_aside(root: Path) -> None:
    for old in (root / "hydra" / "sweeps").iterdir():
        old.rename(old.with_name("first-" + old.name))


def interrupted_record(run_dir: Path) -> dict:
    record = json.loads((run_dir / "interrupted.json").read_text())
    assert record["status"] == "interrupted" and record["identity"]["run_id"] == run_dir.name
    assert not (run_dir / "result.json").exists() and not (run_dir / "failure.json").exists()
    return record

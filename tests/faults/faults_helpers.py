"""Shared pieces of the fault-injection tests: a small CPU job and checks of what is left on disk."""

from __future__ import annotations

import json
from pathlib import Path

# One small job of the tiny model on CPU: seconds per point.
TINY = [
    "model=tiny",
    "hardware=cpu",
    "workload.num_prompts=2",
    "workload.batch_size=2",
    "workload.output_tokens=4",
    "run.repeats=1",
    "run.warmup=0",
    "energy.baseline_s=0",
    "tracking=none",
    "-q",
]


def run_dirs(root: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted((Path(root) / "runs").iterdir())} if (Path(root) / "runs").is_dir() else {}


def complete_result(run_dir: Path) -> dict:
    """The run's result.json, parsed, asserting it is a whole, successful result."""
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "ok" and result["identity"]["run_id"] == run_dir.name
    assert result["windows"] and all(w["output_tokens"] > 0 for w in result["windows"])
    return result


def temp_files(root: Path) -> list[Path]:
    """Leftovers of atomic writes (.<name>.<random>) anywhere under the runs folder; a run dir's lock file
    (.llem.lock, llem/results/lock.py) stays by design: it is no write's leftover."""
    return [p for p in (Path(root) / "runs").glob("**/.*") if p.is_file() and p.name != ".llem.lock"]


def no_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" not in text


class DescendantWatcher:
    """Records every process descended from `root_pid` while it runs (a thread polling /proc), so a
    test can check afterwards that none of them is left: workers, samplers, engine servers."""

    def __init__(self, root_pid: int, poll_s: float = 0.1):
        import threading

        self.root_pid, self.poll_s = root_pid, poll_s
        self.seen: dict[int, tuple[str, str]] = {}  # pid -> (start time in clock ticks, command line)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @staticmethod
    def _stat(pid: int):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[19], fields[0]  # ppid, starttime, state

    def _scan(self) -> None:
        parents = {}
        for d in Path("/proc").glob("[0-9]*"):
            try:
                parents[int(d.name)] = self._stat(int(d.name))[0]
            except (OSError, IndexError, ValueError):
                continue
        family = {self.root_pid}
        changed = True
        while changed:
            changed = False
            for pid, ppid in parents.items():
                if ppid in family and pid not in family:
                    family.add(pid)
                    changed = True
        for pid in family - {self.root_pid}:
            if pid not in self.seen:
                try:
                    start = self._stat(pid)[1]
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except (OSError, IndexError, ValueError):
                    continue
                self.seen[pid] = (start, cmd)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._scan()
            self._stop.wait(self.poll_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def alive(self) -> dict[int, str]:
        """The recorded descendants still running (same pid and start time, not a zombie)."""
        left = {}
        for pid, (start, cmd) in self.seen.items():
            try:
                _, now_start, state = self._stat(pid)
            except (OSError, IndexError, ValueError):
                continue
            if now_start == start and state != "Z":
                left[pid] = cmd
        return left

    def kill_left(self) -> None:
        """Clean-up for a test that found leftovers: kill exactly those processes, by pid."""
        import os
        import signal

        for pid in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

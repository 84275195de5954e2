"""The sampler process dies with its worker: SIGKILL and run.timeout_s during a measured window.

The whole CLI runs against a replayed GPU (LLEM_FAKE_NVML_TRACE), so the worker starts a real
sampler process. Every process under the CLI is recorded while the window runs; after the kill,
none may be left, the failure must be on disk, and a re-run must measure the job again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import llem_env, process_gone, results_under
from replay_traces import constant_power_trace

pytestmark = pytest.mark.slow

JOB = [
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload=synthetic",
    "workload.num_prompts=2",
    "workload.batch_size=2",
    "workload.input_tokens=8",
    "run.repeats=1",
    "run.warmup=0",
    "energy=auto",
    "energy.baseline_s=0.5",
    "energy.settle_max_s=0",
    "energy.post_baseline=false",
    "energy.sample_interval_s=0.05",
]


def descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below root."""
    parents, cmd = {}, {}
    for p in Path("/proc").glob("[0-9]*"):
        try:
            stat = (p / "stat").read_text()
            cmd[int(p.name)] = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parents[int(p.name)] = int(stat[stat.rfind(")") + 2 :].split()[1])
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return {p: cmd.get(p, "") for p in tree - {root}}


class Cli:
    """`python -m llem` with its output read line by line."""

    def __init__(self, args, cwd, env):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llem", *args], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if any(text in line for line in self.lines):
                return True
            time.sleep(0.05)
        return any(text in line for line in self.lines)

    @property
    def output(self) -> str:
        return "".join(self.lines)


def samplers(procs: dict[int, str]) -> list[int]:
    # spawned multiprocessing children: the worker (under the CLI) and the sampler (under the worker)
    return [p for p, c in procs.items() if "spawn_main" in c]


def all_gone(pids, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(process_gone(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def setup(tmp_path):
    trace = tmp_path / "trace.csv"
    constant_power_trace(trace)
    return llem_env(LLEM_FAKE_NVML_TRACE=trace, LLEM_POWERCAP_ROOT=tmp_path / "no-powercap")


def watch_window(cli: Cli) -> dict[int, str]:
    """Every process under the CLI once the measured window is running (worker, sampler, ...)."""
    assert cli.wait_for("measuring window 1/1", 240), cli.output
    procs: dict[int, str] = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(samplers(procs)) < 2:
        procs.update(descendants(cli.proc.pid))
        time.sleep(0.05)
    assert len(samplers(procs)) >= 2, procs  # the worker and its sampler
    return procs


def test_sigkilled_worker_leaves_no_sampler_and_a_rerun_remeasures(tmp_path):
    env = setup(tmp_path)
    args = JOB + ["workload.output_tokens=100", f"run.output_root={tmp_path}"]
    cli = Cli(args, tmp_path, env)
    procs = watch_window(cli)
    worker = min(
        p
        for p in samplers(procs)
        if Path(f"/proc/{p}/stat").exists()
        and int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1]) == cli.proc.pid
    )
    os.kill(worker, signal.SIGKILL)  # as the OOM killer would
    cli.proc.wait(120)
    assert all_gone(procs), {p: c for p, c in procs.items() if not process_gone(p)}
    assert cli.proc.returncode != 0
    [failure] = list(tmp_path.glob("**/runs/*/failure.json"))
    record = json.loads(failure.read_text())
    assert record["status"] == "failed" and record["error"]["type"] == "WorkerDied"
    assert "killed by signal 9" in record["error"]["message"]
    _rerun_measures(tmp_path, env, failure.parent.name, 100)


def test_timeout_during_a_window_leaves_no_sampler_and_a_rerun_remeasures(tmp_path):
    env = setup(tmp_path)
    # a window of whole passes lasting >= 40 s: the 30 s timeout strikes inside it however fast the box is
    cli = Cli(
        JOB + ["workload.output_tokens=400", "run.timeout_s=30", "run.min_window_s=40", f"run.output_root={tmp_path}"],
        tmp_path,
        env,
    )
    procs = watch_window(cli)  # the timeout must strike inside the window for this test to mean anything
    cli.proc.wait(120)
    assert not any("window 1/1" in line and "done" in line for line in cli.lines)
    assert all_gone(procs), {p: c for p, c in procs.items() if not process_gone(p)}
    [failure] = list(tmp_path.glob("**/runs/*/failure.json"))
    record = json.loads(failure.read_text())
    assert record["error"]["type"] == "Timeout" and "run.timeout_s=30" in record["error"]["message"]
    _rerun_measures(tmp_path, env, failure.parent.name, 400, ["run.min_window_s=40"])


def _rerun_measures(tmp_path, env, run_id, tokens, extra=()):
    """The same job again, without the kill: measured, not skipped as done."""
    args = JOB + [f"workload.output_tokens={tokens}", f"run.output_root={tmp_path}", *extra]
    out = subprocess.run(
        [sys.executable, "-m", "llem", *args, "run.timeout_s=600"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout
    [result] = [r for r in results_under(tmp_path) if r["identity"]["run_id"] == run_id]
    assert result["status"] == "ok" and result["windows"][0]["energy_j"] is not None

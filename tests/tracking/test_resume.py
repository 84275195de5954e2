"""Resume: a worker killed mid-run becomes a failure record, the sweep goes on, its summary
counts measured / skipped / failed, and re-running the sweep measures only the missing job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import llem_env

pytestmark = pytest.mark.slow

SWEEP = [
    "--multirun",
    "model=tiny",
    "hardware=cpu",
    "run.repeats=2",
    "run.warmup=0",
    "workload.num_prompts=4",
    "workload.output_tokens=8",
    "workload.batch_size=1,2,4",
    "tracking=none",
    "run.output_root=out",
]


def _spawned_workers(parent_pid: int) -> list[int]:
    """PIDs of the measurement workers (multiprocessing spawn children) of the llem process."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent_pid and "spawn_main" in cmd:
            pids.append(int(stat.parent.name))
    return pids


def _sweep(cwd: Path, kill_first_worker: bool = False) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llem", *SWEEP],
        cwd=cwd,
        env=llem_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines, killed = [], []
    for line in proc.stdout:
        lines.append(line)
        if kill_first_worker and not killed and "loading tiny" in line:  # the first job is mid-run
            for pid in _spawned_workers(proc.pid):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    rc = proc.wait(timeout=600)
    if kill_first_worker:
        assert killed, "no measurement worker was found to kill"
    return rc, "".join(lines)


def _summary(cwd: Path) -> dict:
    (summary,) = (cwd / "out" / "hydra" / "sweeps").glob("*/llem_sweep_summary.json")
    return json.loads(summary.read_text())


def test_killed_job_is_the_only_one_measured_again(workdir):
    rc, out = _sweep(workdir, kill_first_worker=True)
    assert rc == 1, out[-3000:]  # a failed job makes the sweep's exit code non-zero; the sweep went on
    assert "llem sweep summary: 2 measured, 0 skipped (complete result already on disk), 1 failed" in out
    jobs = _summary(workdir)["jobs"]
    assert [j["status"] for j in jobs] == ["failed", "measured", "measured"]
    killed_dir = Path(jobs[0]["run_dir"])
    failure = json.loads((killed_dir / "failure.json").read_text())
    assert failure["error"]["type"] == "WorkerDied" and "signal 9" in failure["error"]["message"]
    assert not (killed_dir / "result.json").exists()
    kept = {j["run_dir"]: (Path(j["run_dir"]) / "result.json").read_bytes() for j in jobs[1:]}
    mtimes = {d: (Path(d) / "result.json").stat().st_mtime_ns for d in kept}

    for old in (workdir / "out" / "hydra" / "sweeps").iterdir():  # keep the second sweep's summary apart
        old.rename(old.with_name("first-" + old.name))
    rc, out = _sweep(workdir)
    assert rc == 0, out[-3000:]
    assert "llem sweep summary: 1 measured, 2 skipped (complete result already on disk), 0 failed" in out
    (second,) = [p for p in (workdir / "out" / "hydra" / "sweeps").iterdir() if not p.name.startswith("first-")]
    jobs = json.loads((second / "llem_sweep_summary.json").read_text())["jobs"]
    assert [j["status"] for j in jobs] == ["measured", "skipped", "skipped"]
    assert json.loads((killed_dir / "result.json").read_text())["status"] == "ok"
    assert not (killed_dir / "failure.json").exists()
    for d, blob in kept.items():  # untouched: neither re-measured nor rewritten
        assert (Path(d) / "result.json").read_bytes() == blob
        assert (Path(d) / "result.json").stat().st_mtime_ns == mtimes[d]

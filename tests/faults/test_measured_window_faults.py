"""Faults while a window is being measured with the time-series sampler running (a replayed GPU, so
the sampler really starts): the worker SIGKILLed mid-window, and run.timeout_s firing.

Each leaves: no process behind (worker, sampler), a failure record saying what happened, no
result.json; and a re-run of the job measures it again. Each scenario runs llem once, then the re-run
(module fixtures); the tests read what they left. (These were also the scenarios of
tests/energy/test_sampler_lifetime.py, whose checks are here now: one run per scenario.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import llem_env, run_llem
from faults_helpers import DescendantWatcher, no_traceback, run_dirs
from replay_traces import constant_power_trace

pytestmark = pytest.mark.slow
JOB = [
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload.num_prompts=4",
    "workload.batch_size=4",
    "workload.input_tokens=16",
    "workload.output_tokens=32",
    "run.warmup=0",
    "energy=auto",
    "energy.baseline_s=0",
    "energy.sample_interval_s=0.05",
    "run.output_root=out",
]


def _env(cwd: Path) -> dict:
    constant_power_trace(cwd / "trace.csv")
    return llem_env(LLEM_FAKE_NVML_TRACE=cwd / "trace.csv", LLEM_POWERCAP_ROOT=cwd / "no-powercap")


def _workers(parent_pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent_pid and b"spawn_main" in cmd:
            out.append(int(stat.parent.name))
    return out


def _run(cwd: Path, args: list[str], kill_at: str | None = None) -> dict:
    """llem ARGS, watching every process it starts; SIGKILL its worker when `kill_at` is printed.

    Output goes to a file, not a pipe: a process left behind would hold a pipe open forever."""
    log = cwd / f"llem-{len(list(cwd.glob('llem-*.log')))}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llem", *args], cwd=cwd, env=_env(cwd), text=True, stdout=out, stderr=subprocess.STDOUT
        )
    watcher = DescendantWatcher(proc.pid)
    killed = []
    try:
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            if kill_at and not killed and kill_at in log.read_text():
                for pid in _workers(proc.pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.1)
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(1.0)  # what the sampler and worker had a chance to do after their parent was done
    watcher.stop()
    left = watcher.alive()
    watcher.kill_left()  # never leave them running, whatever the verdict
    (run_dir,) = run_dirs(cwd / "out").values()
    return {"rc": rc, "out": log.read_text(), "killed": killed, "seen": watcher.seen, "left": left, "run_dir": run_dir}


def _spawned(seen: dict) -> list[int]:
    """The spawned multiprocessing children among the processes seen: the worker (under the CLI) and the
    sampler (under the worker)."""
    return [pid for pid, (_, cmd) in seen.items() if "spawn_main" in cmd]


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("sigkill-window")
    first = _run(cwd, JOB + ["run.repeats=3"], kill_at="measuring window 2/3")
    first["failure"] = (
        json.loads((first["run_dir"] / "failure.json").read_text()) if (first["run_dir"] / "failure.json").exists() else None
    )
    first["had_result"] = (first["run_dir"] / "result.json").exists()
    first["had_timeseries"] = (first["run_dir"] / "timeseries.csv").is_file()  # before the re-run writes its own
    again = run_llem(JOB + ["run.repeats=3"], cwd, env=_env(cwd))
    return cwd, first, again


def test_sigkill_mid_window_is_a_failure_record(killed):
    _, first, _ = killed
    assert first["killed"], "no worker was found to kill"
    assert first["rc"] == 1 and no_traceback(first["out"]), first["out"][-3000:]
    assert first["failure"]["status"] == "failed" and first["failure"]["error"]["type"] == "WorkerDied"
    assert "killed by signal 9" in first["failure"]["error"]["message"], first["failure"]["error"]
    assert not first["had_result"]
    assert first["had_timeseries"]  # the sampler was running in the window


def test_sigkill_mid_window_rerun_measures_again(killed):
    _, first, again = killed
    assert again.returncode == 0, again.stdout[-3000:]
    result = json.loads((first["run_dir"] / "result.json").read_text())
    assert result["status"] == "ok" and len(result["windows"]) == 3 and all(w["energy_j"] for w in result["windows"])
    assert not (first["run_dir"] / "failure.json").exists()
    assert result["timeseries"]["samples"] >= 1 and result["timeseries"]["mean_power_w"] == 300.0


def test_sigkill_mid_window_leaves_no_worker(killed):
    _, first, _ = killed
    assert not {pid: cmd for pid, cmd in first["left"].items() if pid in first["killed"]}


def test_sigkill_mid_window_leaves_no_process(killed):
    _, first, _ = killed
    assert len(_spawned(first["seen"])) >= 2, first["seen"]  # the worker and its sampler were both seen running
    assert first["left"] == {}, first["left"]


# One window of whole passes lasting >= TIMEOUT_S + 2 s, and the timeout counted from the job's start
# (worker start, imports and load included): it strikes inside the window however fast the box is.
# The window must also begin before the limit: on the 2-core CI box it began 7 s after the start,
# and 10-12 s with three such runs side by side (2026-12-07), so 25 s leaves over twice that.
TIMEOUT_S = 25
TIMED = JOB + ["run.repeats=1", f"run.min_window_s={TIMEOUT_S + 2}"]


@pytest.fixture(scope="module")
def timed_out(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("timeout-window")
    first = _run(cwd, TIMED + [f"run.timeout_s={TIMEOUT_S}"])
    run_dir = first["run_dir"]  # what the timeout left, read before the re-run replaces it
    first["failure"] = json.loads((run_dir / "failure.json").read_text()) if (run_dir / "failure.json").exists() else None
    first["had_result"] = (run_dir / "result.json").exists()
    first["had_timeseries"] = (run_dir / "timeseries.csv").is_file()
    # the same job without the limit (run.timeout_s is not part of a run's identity): measured, not skipped
    first["again"] = run_llem(TIMED + ["run.timeout_s=600"], cwd, env=_env(cwd))
    return first


def test_timeout_is_a_failure_record_naming_the_limit(timed_out):
    r = timed_out
    assert r["rc"] == 1 and no_traceback(r["out"]), r["out"][-3000:]
    assert "measuring window 1/1" in r["out"], r["out"][-3000:]  # it fired inside the measured window ...
    assert not any("window 1/1" in line and "done" in line for line in r["out"].splitlines())  # ... before its end
    failure = r["failure"]
    assert failure["error"]["type"] == "Timeout"
    assert failure["error"]["message"] == f"the job exceeded run.timeout_s={TIMEOUT_S} s and was killed"
    assert not r["had_result"]
    assert r["had_timeseries"]


def test_timeout_leaves_no_process(timed_out):
    assert len(_spawned(timed_out["seen"])) >= 2, timed_out["seen"]  # the worker and its sampler
    assert timed_out["left"] == {}, timed_out["left"]


def test_timeout_rerun_measures_again(timed_out):
    again = timed_out["again"]
    assert again.returncode == 0, again.stdout[-3000:]
    result = json.loads((timed_out["run_dir"] / "result.json").read_text())
    assert result["status"] == "ok" and result["identity"]["run_id"] == timed_out["run_dir"].name
    assert len(result["windows"]) == 1 and result["windows"][0]["energy_j"] is not None
    assert not (timed_out["run_dir"] / "failure.json").exists()

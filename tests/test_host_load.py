"""Per-window host load (llem/energy/host_load.py): the arithmetic on a constructed /proc, then real
processes on this machine's real /proc, then a real llem run beside a CPU hog."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import llem_env, results_under

from llem.energy.host_load import HostLoad, _tree_jiffies, host_flags


def _write_proc(root, cpu_busy: int, steal: int, procs: dict[int, tuple[int, int, int]], nice: int = 0):
    """/proc/stat and /proc/<pid>/stat: procs maps pid -> (ppid, utime, stime)."""
    root.mkdir(exist_ok=True)
    # cpu user nice system idle iowait irq softirq steal
    (root / "stat").write_text(f"cpu {cpu_busy - nice} {nice} 0 999999 0 0 0 {steal} 0 0\ncpu0 1 2 3\n")
    for pid, (ppid, ut, st) in procs.items():
        d = root / str(pid)
        d.mkdir(exist_ok=True)
        fields = ["S", str(ppid)] + ["0"] * 9 + [str(ut), str(st), "0", "0"] + ["0"] * 10
        (d / "stat").write_text(f"{pid} (a (weird) name) " + " ".join(fields) + "\n")


def test_tree_covers_descendants_only(tmp_path):
    _write_proc(tmp_path, 0, 0, {1: (0, 1000, 0), 10: (1, 5, 5), 11: (10, 7, 0), 12: (11, 1, 1), 20: (1, 900, 0)})
    assert _tree_jiffies(tmp_path, 10) == 5 + 5 + 7 + 1 + 1  # 10 -> 11 -> 12; not 20 (a sibling) nor 1


def test_other_and_steal_cores_from_two_snapshots(tmp_path):
    hz = os.sysconf("SC_CLK_TCK")
    clock = iter([100.0, 102.0])
    load = HostLoad(proc=tmp_path, pid=10, clock=lambda: next(clock))
    _write_proc(tmp_path, 0, 0, {10: (1, 0, 0)})
    load.begin()
    # over 2 s: the host busy for 3 CPUs' worth, this job 1 CPU, the hypervisor 0.5
    # (of the host's busy time 1 CPU at a positive nice value)
    _write_proc(tmp_path, 6 * hz, 1 * hz, {10: (1, 2 * hz, 0)}, nice=2 * hz)
    h = load.end()
    assert h["busy_cores"] == pytest.approx(3.0) and h["own_cores"] == pytest.approx(1.0)
    assert h["other_cores"] == pytest.approx(2.0) and h["steal_cores"] == pytest.approx(0.5)
    assert h["other_niced_cores"] == pytest.approx(1.0)
    flags = host_flags([dict(index=0, host=h)], max_cores=1.5)
    assert len(flags) == 1 and flags[0].startswith("host_busy: window 0: other processes used 2.0")
    assert "1.0 of them at a lower priority (nice)" in flags[0]
    assert host_flags([dict(index=0, host=h)], max_cores=2.5) == []
    assert host_flags([dict(index=0, host=None)], max_cores=0.0) == []  # unreadable /proc: no record, no flag


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


HOG = (
    "import os, sys, time\n"
    "if os.fork(): os._exit(0)\n"  # the spinning process is re-parented away from its starter
    "open(sys.argv[2], 'w').write(str(os.getpid()))\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end: pass\n"
)


def _outside_hogs(n: int, seconds: float, tmp_path) -> list:
    files = [tmp_path / f"hog-{i}.pid" for i in range(n)]
    for p in [subprocess.Popen([sys.executable, "-c", HOG, str(seconds), str(f)]) for f in files]:
        p.wait()
    deadline = time.monotonic() + 10
    while not all(f.exists() and f.read_text() for f in files) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [int(f.read_text()) for f in files]


def _stop(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_real_processes_count_as_own_or_other(tmp_path):
    """On this machine's /proc: a child's busy loop is the job's own CPU; a process outside this
    process tree (forked, its parent gone) is other processes' CPU."""
    load = HostLoad()
    load.begin()
    child = mp.get_context("spawn").Process(target=_spin, args=(1.5,))
    child.start()
    child.join()
    own = load.end()
    assert own["own_cores"] > 0.3, own  # the child ran ~1 CPU for most of the window (a shared box gives less)
    pids = _outside_hogs(1, 10, tmp_path)
    try:
        load = HostLoad()
        load.begin()
        time.sleep(1.5)
        other = load.end()
    finally:
        _stop(pids)
    assert other["other_cores"] > 0.3 and other["own_cores"] < 0.2, other


def test_a_llem_run_beside_a_cpu_hog_is_flagged_host_busy(tmp_path):
    """A real run of model=tiny on CPU while two processes outside its tree spin: each window
    records the host's load, and the result carries host_busy with the numbers."""
    pids = _outside_hogs(2, 60, tmp_path)
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "llem",
                "model=tiny",
                "hardware=cpu",
                "tracking=none",
                "workload.num_prompts=2",
                "workload.output_tokens=32",
                "run.repeats=2",
                "run.min_window_s=1.5",
                "energy.host_busy_max_cores=0.4",
                f"run.output_root={tmp_path}",
            ],
            cwd=tmp_path,
            env=llem_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        _stop(pids)
    assert out.returncode == 0, out.stdout + out.stderr
    [result] = results_under(tmp_path)
    hosts = [w["host"] for w in result["windows"]]
    assert all(h and h["other_cores"] > 0.4 for h in hosts), hosts
    flags = [f for f in result["validity"]["flags"] if f.startswith("host_busy:")]
    assert flags and "other processes used" in flags[0], result["validity"]["flags"]
    assert json.dumps(hosts)  # plain data

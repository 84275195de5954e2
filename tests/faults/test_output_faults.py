"""Faults around the output root: a disk that fills up mid-sweep, and two sweeps writing to the
same root at once. Results already on disk stay whole; the user reads one clear sentence."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import llem_env, run_llem
from faults_helpers import TINY, complete_result, no_traceback, run_dirs, temp_files

pytestmark = pytest.mark.slow

FILE_LIMIT_BYTES = 4096  # larger than config.yaml and environment.json, smaller than result.json


def _fill_disk_once_measuring(proc: subprocess.Popen, root: Path) -> None:
    """A full-disk stand-in without root-only mounts: once the sweep's first job has started, no file
    the llem process writes may grow past FILE_LIMIT_BYTES, so write() fails with EFBIG (Python ignores
    SIGXFSZ) where a full disk fails with ENOSPC. Hydra's own sweep files are written by then, as in a
    night-long sweep whose disk fills up at two in the morning."""
    deadline = time.monotonic() + 120
    while not list((root / "runs").glob("*_bs1_*/config.yaml")):
        assert proc.poll() is None and time.monotonic() < deadline, "the first job never started"
        time.sleep(0.05)
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (FILE_LIMIT_BYTES, FILE_LIMIT_BYTES))


def test_full_disk_keeps_earlier_results_and_says_so_once(tmp_path):
    root = tmp_path / "out"
    first = run_llem([*TINY, "workload.batch_size=1", f"run.output_root={root}"], tmp_path, timeout=300)
    assert first.returncode == 0, first.stdout[-3000:]
    (measured,) = run_dirs(root).values()
    before = (measured / "result.json").read_bytes()

    # The same point re-measured (run.force) and a new one, while nothing large can be written.
    args = [
        sys.executable,
        "-m",
        "llem",
        "--multirun",
        *TINY,
        "workload.batch_size=1,2",
        "run.force=true",
        f"run.output_root={root}",
        "hydra.output_subdir=null",
    ]  # Hydra's per-job copies would not fit either
    (measured / "config.yaml").unlink()  # so that the job's start can be seen
    proc = subprocess.Popen(args, cwd=tmp_path, env=llem_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _fill_disk_once_measuring(proc, root)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 1, out[-3000:]
    # the earlier measurement is untouched: in place, or (its config.yaml gone, so no longer complete) set aside
    # whole under result.json.invalid-<time> by the re-measurement (llem.results.complete), never lost
    kept = [p for p in measured.iterdir() if p.name == "result.json" or p.name.startswith("result.json.invalid-")]
    assert [p.read_bytes() for p in kept] == [before], kept
    dirs = run_dirs(root)
    (new,) = [d for n, d in dirs.items() if "_bs2_" in n]
    assert not (new / "result.json").exists()  # no half-written result
    assert not temp_files(root)
    errors = [line for line in out.splitlines() if line.startswith("llem: error:")]
    assert len(errors) == 2, out[-3000:]  # one sentence per job, naming the file and the cause
    assert out.count("File too large") >= 2 and "run.output_root" in out and no_traceback(out)
    # Neither job left a record in its run dir (bs1 still holds the earlier result), yet the sweep
    # summary counts both as failed, with their reason, from what the launcher process saw.
    assert "llem sweep summary: 0 measured, 0 skipped (complete result already on disk), 2 failed" in out
    (summary_file,) = (root / "hydra" / "sweeps").glob("*/llem_sweep_summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["counts"]["failed"] == 2 and sum(summary["counts"].values()) == 2
    for job in summary["jobs"]:
        assert job["status"] == "failed" and job["message"].startswith("could not write ")
        assert "(File too large)" in job["message"] and "run.output_root" in job["message"]
    assert sorted(Path(j["run_dir"]) for j in summary["jobs"]) == sorted([measured.resolve(), new.resolve()])


def test_two_sweeps_on_one_output_root_at_once(tmp_path):
    root = tmp_path / "shared"
    sweeps = [["workload.batch_size=1,2"], ["workload.batch_size=2,4"]]  # batch size 2 is in both
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "llem", "--multirun", *TINY, *axis, f"run.output_root={root}"],
            cwd=tmp_path,
            env=llem_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for axis in sweeps
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
        assert no_traceback(out)
    dirs = run_dirs(root)
    assert sorted(n.split("_")[2] for n in dirs) == ["bs1", "bs2", "bs4"]  # each point once, none lost
    for d in dirs.values():
        result = complete_result(d)  # whole, valid JSON even where both sweeps measured the point
        assert result["spec"]["workload"]["batch_size"] == int(d.name.split("_")[2][2:])
        assert not (d / "failure.json").exists()
    assert not temp_files(root)
    # Each sweep kept its own record, named by its launching process even if both started within
    # the clock's resolution (a CI machine once gave both the same microsecond).
    sweep_dirs = sorted((root / "hydra" / "sweeps").iterdir())
    assert sorted(d.name.rsplit("-", 1)[1] for d in sweep_dirs) == sorted(str(p.pid) for p in procs)
    for d in sweep_dirs:
        assert (d / "multirun.yaml").is_file() and (d / "llem_sweep_summary.json").is_file()

"""Two llem processes given the same point never measure it twice (llem/results/lock.py): the
second waits for the first's lock on the run dir, then skips its complete result (issue 28, 5)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from conftest import llem_env

TINY = [
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload.num_prompts=2",
    "workload.batch_size=2",
    "workload.input_tokens=16",
    "workload.output_tokens=8",
    "run.repeats=4",
    "run.warmup=0",
    "energy.baseline_s=0",
]


def test_two_identical_runs_measure_once(workdir):
    def start():
        return subprocess.Popen(
            [sys.executable, "-m", "llem", *TINY],
            cwd=workdir,
            env=llem_env(COLUMNS=200),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    first = start()
    deadline = time.monotonic() + 300
    while not list((workdir / "outputs" / "runs").glob("*/.llem.lock")):  # the first holds the point
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
        time.sleep(0.1)
    second = start()
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert "measuring window 1/4" in outs[0] and "measuring window" not in outs[1], outs[1]
    assert "is being measured by llem pid" in outs[1] and "skipping" in outs[1], outs[1]
    (result,) = (workdir / "outputs" / "runs").glob("*/result.json")
    assert len(json.loads(result.read_text())["windows"]) == 4

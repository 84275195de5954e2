"""Faults inside the measurement: the engine raises, or memory runs out. Each becomes a failure
record in its run directory, the sweep measures the other points, and nothing else is touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import llem_env, run_llem
from faults_helpers import TINY, complete_result, no_traceback, run_dirs, temp_files

pytestmark = pytest.mark.slow


def _tiny_model_folder(dest: Path) -> Path:
    """A copy of llem's built-in tiny model as a plain transformers folder (built on first use)."""
    from llem.models.builtin import materialize

    shutil.copytree(materialize("tiny"), dest)
    return dest


def test_corrupt_weights_fail_one_job_and_the_sweep_goes_on(tmp_path):
    good = _tiny_model_folder(tmp_path / "good-model")
    bad = shutil.copytree(good, tmp_path / "bad-model")
    weights = bad / "model.safetensors"
    weights.write_bytes(b"\x00\x01not a safetensors file" * 64)  # same name, garbage inside
    root = tmp_path / "out"
    sweep = ["--multirun", *TINY, "model.source=path", "model.name=folder", f"model.id={bad},{good}", f"run.output_root={root}"]
    proc = run_llem(sweep, tmp_path, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:]  # a failed job makes the sweep's exit code non-zero
    dirs = run_dirs(root)
    assert len(dirs) == 2
    failed = [d for d in dirs.values() if (d / "failure.json").exists()]
    measured = [d for d in dirs.values() if (d / "result.json").exists()]
    assert len(failed) == 1 and len(measured) == 1 and failed != measured
    record = json.loads((failed[0] / "failure.json").read_text())
    assert record["status"] == "failed" and record["identity"]["run_id"] == failed[0].name
    assert record["spec"]["model"]["id"] == str(bad)
    assert record["error"]["type"] and record["error"]["message"] and not record["error"]["user_error"]
    assert "Traceback" in (failed[0] / record["error"]["traceback_file"]).read_text()  # kept for a bug report
    assert not (failed[0] / "result.json").exists()
    assert complete_result(measured[0])["spec"]["model"]["id"] == str(good)  # the point after the crash ran
    assert f"failed: {record['error']['type']}" in proc.stdout and no_traceback(proc.stdout)
    assert not temp_files(root)


def test_out_of_memory_in_the_engine_is_a_clear_failure_record(tmp_path):
    # Stand-in for a CUDA/CPU out-of-memory: the worker's address space is capped (by the tests' own
    # sitecustomize, tests/subprocess_guard/, in each spawned process) so that the long-prompt point fails an allocation inside the engine
    # while the short one fits. run.timeout_s keeps a stuck worker from hanging CI.
    root = tmp_path / "out"
    sweep = [
        "--multirun",
        *TINY,
        "workload=synthetic",
        "workload.num_prompts=32",
        "workload.batch_size=32",
        "workload.output_tokens=2",
        "workload.input_tokens=16,2000,24",
        "run.timeout_s=240",
        f"run.output_root={root}",
    ]
    proc = run_llem(sweep, tmp_path, timeout=600, env=llem_env(LLEM_TEST_WORKER_MEMORY_LIMIT_MB=2000))
    assert proc.returncode == 1, proc.stdout[-3000:]
    dirs = run_dirs(root)
    (short,) = [d for n, d in dirs.items() if "_in16_" in n]
    (long,) = [d for n, d in dirs.items() if "_in2000_" in n]
    assert complete_result(short)["requests"]["input_tokens"] == [16] * 32
    # The failed point ran on the engine the first one loaded; the worker that failed is not trusted
    # again: the point after it loads the engine afresh in a new process.
    (after,) = [d for n, d in dirs.items() if "_in24_" in n]
    assert complete_result(after)["engine_load"]["reused"] is False
    record = json.loads((long / "failure.json").read_text())
    assert record["error"]["out_of_memory"] is True
    assert record["error"]["message"].startswith("out of memory") and "workload.batch_size" in record["error"]["message"]
    assert not (long / "result.json").exists() and not temp_files(root)
    assert "out of memory" in proc.stdout and no_traceback(proc.stdout)

"""The command line as a user meets it: help, config inspection, and bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import run_llem


def test_help_lists_config_groups_and_options(workdir):
    out = run_llem(["--help"], workdir, timeout=60)
    assert out.returncode == 0, out.stdout
    for needle in ("backend: ", "pytorch", "model: ", "smollm2-135m", "tiny", "hardware: ", "workload: ", "energy: "):
        assert needle in out.stdout


def test_help_and_validation_import_no_engine():
    """--help and config validation must stay fast: no torch/transformers/mlflow import on that path."""
    code = (
        "import sys\n"
        "from llem.cli import prevalidate\n"
        "assert prevalidate(['model=tiny', 'hardware=cpu', 'workload.batch_size=2']) == 1\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'mlflow', 'vllm', 'llama_cpp') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


def test_cfg_job_prints_the_composed_config(workdir):
    out = run_llem(["--cfg", "job", "backend=pytorch", "model=tiny", "workload.batch_size=2"], workdir, timeout=60)
    assert out.returncode == 0, out.stdout
    assert "batch_size: 2" in out.stdout and "name: tiny" in out.stdout and "cache_implementation: dynamic" in out.stdout


def test_multirun_validates_every_point_before_running_any(workdir):
    out = run_llem(["--multirun", "model=tiny", "hardware=cpu", "workload.batch_size=2,0"], workdir, timeout=60)
    assert out.returncode == 2
    assert "workload.batch_size=0" in out.stdout
    assert not (workdir / "outputs" / "runs").exists()  # nothing ran


@pytest.mark.parametrize(
    "args,needle",
    [
        (["backend=nosuch"], "backend=nosuch"),
        (["model=tiny", "workload.batch_size=0"], "workload.batch_size=0"),
        (["model=smollm3"], "did you mean 'smollm2-135m'"),
        (["model=tiny", "workload.bogus=1"], "workload.bogus"),
        (["model=tiny", "workload=jsonl"], "workload.path"),
        (["model=tiny", "workload=jsonl", "workload.path=/no/such.jsonl"], "/no/such.jsonl"),
        (["model=tiny", "workload.batch_size=1,2"], "--multirun"),
        (["model=tiny", "hardware=cpu", "backend.attn_implementation=flash_attention_2"], "flash_attention_2"),
        (["model=tiny", "hardware.gpu_count=0"], "hardware.gpu_count=0"),
        (["model=tiny", "run.repeats=0"], "run.repeats=0"),
        (
            ["model=tiny", "hardware=cpu", "backend=vllm", "backend.engine_kwargs.swap_space=1"],
            "+backend.engine_kwargs.swap_space",
        ),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(workdir, args, needle):
    out = run_llem(args, workdir, timeout=60)
    assert out.returncode == 2, out.stdout
    assert "Traceback" not in out.stdout
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("llem: error: ") and needle in lines[0]
    assert not (workdir / "outputs" / "runs").exists()  # refused before any job started


def test_bad_jsonl_line_is_reported_with_its_line_number(workdir):
    path = workdir / "p.jsonl"
    path.write_text('{"prompt": "hello"}\n{"prompt": 3}\n')
    out = run_llem(["model=tiny", "workload=jsonl", f"workload.path={path}"], workdir, timeout=60)
    assert out.returncode == 2 and "line 2" in out.stdout and "Traceback" not in out.stdout


def test_cuda_job_without_a_gpu_is_refused_before_launch(workdir):
    # Issue 28: it used to fail in the job, leaving a failure record and a failed MLflow run; a job
    # launched on this machine is now refused before anything starts (a Slurm job still checks on its node).
    out = run_llem(["model=tiny", "hardware=cuda", "-q"], workdir, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stdout
    assert "hardware=cuda asks for a CUDA GPU" in out.stdout
    assert not (workdir / "outputs").exists() and not (workdir / "mlflow.db").exists()  # nothing written

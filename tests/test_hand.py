"""The CLI as a new user meets it (issue 28, 9): subcommands' own --help, --version, a
did-you-mean for a mistyped command, a next step after a run, whole run-dir paths, a report that
fits a pipe, and the summary telling the truth about tiny's weights."""

from __future__ import annotations

import pytest

from conftest import llem_env, run_llem

TINY = [
    "model=tiny",
    "hardware=cpu",
    "workload.num_prompts=2",
    "workload.batch_size=2",
    "workload.input_tokens=16",
    "workload.output_tokens=4",
    "run.repeats=1",
    "run.warmup=0",
    "energy.baseline_s=0",
]


@pytest.mark.parametrize(
    "cmd,says",
    [
        (["report", "--help"], "usage: llem report"),
        (["report", "-h"], "--slo-ttft-s"),
        (["sync", "--help"], "usage: llem sync"),
        (["export", "-h"], "usage: llem export"),
    ],
)
def test_subcommands_have_their_own_help(workdir, cmd, says):
    out = run_llem(cmd, workdir, timeout=120)
    assert out.returncode == 0 and says in out.stdout and "Config groups" not in out.stdout, out.stdout


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
def test_an_slo_is_a_positive_number_of_seconds(workdir, value):
    """llem report --slo-ttft-s -1 was accepted (exit 0) and chose nothing; a bad SLO is a usage error, exit 2."""
    out = run_llem(["report", "outputs", f"--slo-ttft-s={value}"], workdir, timeout=60)
    assert out.returncode == 2 and "--slo-ttft-s: invalid duration (seconds > 0) value" in out.stdout, out.stdout
    assert "Traceback" not in out.stdout and not (workdir / "outputs").exists()


def test_version_names_llem_and_the_engines(workdir):
    out = run_llem(["--version"], workdir, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("llem 0.") and "Hydra" not in out.stdout, out.stdout
    assert "backend=pytorch: installed (transformers " in out.stdout
    assert "backend=vllm:" in out.stdout and "backend=llamacpp:" in out.stdout


def test_a_mistyped_command_gets_a_did_you_mean(workdir):
    out = run_llem(["reprot", "outputs"], workdir, timeout=60)
    assert out.returncode == 2 and "did you mean llem report?" in out.stdout and "Traceback" not in out.stdout, out.stdout
    assert not (workdir / "outputs").exists()


def test_a_run_prints_its_whole_path_the_truth_about_weights_and_what_next(workdir):
    out = run_llem([*TINY, "tracking=mlflow"], workdir, env=llem_env(COLUMNS=60))
    assert out.returncode == 0, out.stdout[-3000:]
    (run_dir,) = (workdir / "outputs" / "runs").iterdir()
    assert str(run_dir.resolve()) in out.stdout  # whole, not cut with "…" at 60 columns
    assert "weights random" in out.stdout and "weights pretrained" not in out.stdout  # tiny is random (README)
    assert (
        "next: llem report outputs" in out.stdout and f"mlflow ui --backend-store-uri sqlite:///{workdir.resolve()}" in out.stdout
    )

    report = run_llem(["report", "outputs", "--no-plots", "--no-html"], workdir, timeout=300)
    assert report.returncode == 0, report.stdout
    table = [line for line in report.stdout.splitlines() if line.startswith("|")]
    assert "| Energy (J/token) | Throughput (tok/s) | Power (W) |" in table[0]  # the headline first
    assert "…" not in report.stdout  # a pipe gets markdown with every digit

"""Limits checked before launch (issue 28, 6 to 8): absurd values, a context too short, a batch
larger than the prompt set, infinite durations, an empty sweep, an output root that cannot hold
results. Each is one sentence naming the value, exit code 2, and nothing written."""

from __future__ import annotations

import os

import pytest

from conftest import llem_env, run_llem

BASE = ["model=tiny", "hardware=cpu", "tracking=mlflow"]


@pytest.mark.parametrize(
    "args,says",
    [
        (["workload.batch_size=99999999999999999999999"], "workload.batch_size=99999999999999999999999 is not valid"),
        (["workload.output_tokens=1000000000"], "workload.output_tokens=1000000000 is not valid"),
        (["workload.output_tokens=3000"], "exceed model=tiny's context of 2048 tokens"),
        (["workload.num_prompts=9000000", "workload.input_tokens=1000"], "available memory"),
        (["run.cooldown_s=inf"], "run.cooldown_s=inf is not valid: input should be a finite number"),
        (["workload.batch_size=64"], "workload.batch_size=64 is larger than workload.num_prompts=8"),
        (["--multirun", "workload.batch_size=range(5,1)"], "sweeps no values"),
        (["run.output_root=/dev/null"], "run.output_root=/dev/null is not a folder"),
        (["run.output_root=results.txt/sub"], "lies under results.txt, which is not a folder"),
        (["run.output_root="], "run.output_root is empty"),
    ],
)
def test_refused_before_launch(workdir, args, says):
    (workdir / "results.txt").write_text("not a folder")
    out = run_llem([*BASE, *args], workdir, timeout=120)
    assert out.returncode == 2, out.stdout[-2000:]
    assert says in out.stdout and "Traceback" not in out.stdout, out.stdout[-2000:]
    assert out.stdout.count("\n") <= 2, out.stdout  # one sentence
    assert sorted(p.name for p in workdir.iterdir()) == ["results.txt"]  # nothing written: no outputs, no mlflow.db


def test_unwritable_output_root_is_refused(workdir):
    import subprocess

    root = workdir / "ro"
    root.mkdir()
    if os.geteuid() == 0:  # root writes anywhere except into an immutable folder
        if subprocess.run(["chattr", "+i", str(root)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not permitted here")
    else:
        root.chmod(0o500)
    try:
        out = run_llem([*BASE, f"run.output_root={root}/x"], workdir, timeout=120)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(root)])
        else:
            root.chmod(0o700)
    assert out.returncode == 2 and "is not writable" in out.stdout and "Traceback" not in out.stdout, out.stdout
    assert not (workdir / "mlflow.db").exists()


@pytest.mark.parametrize(
    "target,says",
    [
        ("sub.tar.gz", "is a folder"),
        ("/dev/null/x.tar.gz", "/dev/null is not a folder"),
        ("notes.txt/b.tar.gz", "notes.txt is not a folder"),
    ],
)
def test_export_target_is_checked_before_any_work(workdir, target, says):
    (workdir / "sub.tar.gz").mkdir()
    (workdir / "notes.txt").write_text("x")
    out = run_llem(["export", "nowhere", "-o", target], workdir, timeout=120)  # the source does not even exist:
    assert out.returncode == 2 and says in out.stdout and "Traceback" not in out.stdout, out.stdout  # the target is checked first


def test_a_hub_model_offline_fails_fast(workdir):
    args = ["model=qwen2.5-0.5b", "model.id=llem-test/not-in-any-cache", "hardware=cpu", "tracking=none"]
    out = run_llem(args, workdir, timeout=60)  # HF_HUB_OFFLINE=1 (tests' environment)
    assert out.returncode == 2 and "HF_HUB_OFFLINE is set" in out.stdout and "Traceback" not in out.stdout, out.stdout
    env = {k: v for k, v in llem_env().items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there: as a machine without network
    out = run_llem(args, workdir, timeout=60, env=env)
    assert out.returncode == 2 and "http://127.0.0.1:9 cannot be reached" in out.stdout, out.stdout
    assert not (workdir / "outputs").exists()

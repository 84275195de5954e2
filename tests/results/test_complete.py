"""A result is complete only if it validates and its sibling files exist (llem.results.complete,
the one reader of job skip, launcher resume, export, verify and report); anything else is measured
again and kept aside. A run's identity covers the content of its input files (issue 28, 1 to 3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from conftest import llem_env, run_llem
from llem.cli.app import plain_config
from llem.results.complete import complete_result, read_result, result_problem
from llem.config.spec import build_spec

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
    "tracking=none",
]
PROMPTS = Path(__file__).resolve().parents[2] / "llem/workload/data/prompts.jsonl"


def _spec(overrides: list[str]):
    with initialize_config_module(config_module="llem.conf", version_base=None):
        return build_spec(plain_config(compose(config_name="config", overrides=overrides)))


def test_config_hashes_of_runs_without_input_files_are_unchanged():
    """Golden: the hashes these configs had before input files' content joined the identity, so
    their results on disk are still found by resume."""
    assert _spec(["model=tiny", "hardware=cpu"]).config_hash() == "0ead370bc151"
    assert _spec([]).config_hash() == "bf71faff925b"
    assert _spec(["model=tiny", "hardware=cpu", "workload=synthetic", "workload.batch_size=2"]).config_hash() == "bdfb11b1d6d5"


def test_jsonl_content_is_part_of_the_identity(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "hello there"}\n')
    ov = ["model=tiny", "hardware=cpu", "workload=jsonl", f"workload.path={path}"]
    first = _spec(ov).config_hash()
    assert _spec(ov).config_hash() == first  # same bytes, same run
    path.write_text('{"prompt": "something else entirely"}\n')
    assert _spec(ov).config_hash() != first  # same path, other content: another run


def test_chat_dataset_content_is_part_of_the_identity(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hello there"}]}\n')
    ov = ["model=tiny", "hardware=cpu", "workload=chat", f"workload.path={path}"]
    first = _spec(ov).config_hash()
    assert _spec(ov).config_hash() == first
    path.write_text('{"messages": [{"role": "user", "content": "something else entirely"}]}\n')
    assert _spec(ov).config_hash() != first  # a chat dataset is an input file like a prompt file


def test_local_model_folder_content_is_part_of_the_identity(tmp_path):
    from llem.workload.fingerprint import input_hashes

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    spec = {"model": {"source": "path", "id": str(folder)}, "workload": {"source": "builtin"}}
    before = input_hashes(spec)
    (folder / "model.safetensors").write_bytes(b"\0" * 10)
    after = input_hashes(spec)
    assert set(before) == {"model.id"} and before != after


def test_path_without_a_jsonl_workload_is_refused(workdir):
    out = run_llem(["model=tiny", "hardware=cpu", f"workload.path={PROMPTS}"], workdir, timeout=120)
    assert out.returncode == 2, out.stdout
    assert "workload.path=" in out.stdout and "workload=jsonl" in out.stdout and "Traceback" not in out.stdout
    assert not (workdir / "outputs" / "runs").exists()


@pytest.mark.parametrize(
    "record,why",
    [
        ({"status": "ok"}, "schema_version"),
        ({"status": "ok", "metrics": {}}, "schema_version"),
        ("not a dict", "input should be a valid dictionary"),
    ],
)
def test_hollow_records_are_not_results(record, why):
    assert why in result_problem(record)


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """One complete tiny run for the module; each test works on its own copy (tests/test_pipeline.py
    re-runs a copied run directory the same way)."""
    workdir = tmp_path_factory.mktemp("good-run")
    out = run_llem(TINY, workdir)
    assert out.returncode == 0, out.stdout[-3000:]
    return workdir / "outputs"


def _good_run(workdir: Path, measured: Path) -> Path:
    shutil.copytree(measured, workdir / "outputs")
    (run_dir,) = (workdir / "outputs" / "runs").iterdir()
    assert complete_result(run_dir) is not None
    return run_dir


def test_hollow_or_orphaned_results_are_measured_again_and_kept_aside(workdir, measured):
    run_dir = _good_run(workdir, measured)
    good = json.loads((run_dir / "result.json").read_text())

    # 1. {"status": "ok"}: resume used to skip it, then die on KeyError 'metrics'.
    (run_dir / "result.json").write_text('{"status": "ok"}')
    assert read_result(run_dir)[1]
    out = run_llem(TINY, workdir)
    assert out.returncode == 0 and "Traceback" not in out.stdout, out.stdout[-3000:]
    assert "skipping" not in out.stdout and "not a complete result" in out.stdout
    assert complete_result(run_dir) is not None
    (kept,) = run_dir.glob("result.json.invalid-*")
    assert kept.read_text() == '{"status": "ok"}'  # renamed, never deleted

    # 2. config.yaml deleted: the run no longer counts as complete; it is measured and restored.
    (run_dir / "config.yaml").unlink()
    out = run_llem(TINY, workdir)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "config.yaml is missing" in out.stdout
    assert (run_dir / "config.yaml").is_file() and complete_result(run_dir) is not None
    assert len(list(run_dir.glob("result.json.invalid-*"))) == 2

    # 3. A complete result is still skipped.
    out = run_llem(TINY, workdir)
    assert out.returncode == 0 and "skipping" in out.stdout, out.stdout[-3000:]
    assert json.loads((run_dir / "result.json").read_text())["identity"]["run_id"] == good["identity"]["run_id"]


def test_export_verify_and_report_trust_only_complete_results(workdir, measured):
    run_dir = _good_run(workdir, measured)
    hollow = run_dir.with_name(run_dir.name[:-12] + "0123456789ab")
    shutil.copytree(run_dir, hollow)
    (hollow / "result.json").write_text('{"status": "ok", "metrics": {}}')

    out = run_llem(["report", "outputs", "--no-plots"], workdir, timeout=300)
    assert out.returncode == 0 and "Traceback" not in out.stdout, out.stdout[-3000:]
    assert f"left out outputs/runs/{hollow.name}" in out.stdout and (workdir / "outputs" / "report" / "report.html").is_file()

    out = run_llem(["export", "outputs", "-o", "b.tar.gz"], workdir, timeout=300)
    assert out.returncode == 0 and f"left out outputs/runs/{hollow.name}" in out.stdout, out.stdout[-3000:]
    assert "1 runs" in out.stdout

    # A bundle whose manifest vouches for a hollow result.json: verify names it.
    from llem.bundle.archive import write_bundle
    from llem.report.collect import Run

    write_bundle(
        [Run({"status": "ok", "metrics": {}, "identity": {"run_id": hollow.name}}, hollow)], workdir / "hollow.tar.gz", "outputs"
    )
    out = subprocess.run(
        [sys.executable, "-m", "llem", "verify", "hollow.tar.gz"],
        cwd=workdir,
        env=llem_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "is not a complete result" in out.stdout, out.stdout

"""CI fails loudly: a missing CI-provisioned engine fails under CI=true, and .ci/check_skips.py
fails a run whose skips are not all on the GPU-only allowlist."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, llem_env

PROBE = """
import pytest
from conftest import provisioned

@pytest.mark.needs("llem_no_such_engine", "an engine CI installs", "bash .ci/install.d/99-none.sh")
def test_needs_a_missing_engine():
    pass

def test_service_does_not_answer():
    provisioned("Slurm", "no cluster answers sinfo")
"""


def run_probe(tmp_path, ci: str):
    (tmp_path / "test_probe.py").write_text(PROBE)
    skips = tmp_path / f"skips-{ci or 'dev'}.jsonl"
    env = llem_env(CI=ci, LLEM_SKIPS_FILE=skips)
    env["PYTHONPATH"] = f"{REPO / 'tests'}:{env['PYTHONPATH']}"  # the suite's conftest, loaded as a plugin
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "conftest",
            "-rs",
            str(tmp_path / "test_probe.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out, skips


def test_missing_provisioned_engine_skips_for_a_developer_and_fails_in_ci(tmp_path):
    dev, skips = run_probe(tmp_path, "")
    assert dev.returncode == 0 and "2 skipped" in dev.stdout, dev.stdout
    recorded = [json.loads(ln) for ln in skips.read_text().splitlines()]
    assert [r["test"].split("::")[1] for r in recorded] == ["test_needs_a_missing_engine", "test_service_does_not_answer"]
    assert "llem_no_such_engine is not installed" in recorded[0]["reason"]
    ci, _ = run_probe(tmp_path, "true")
    assert ci.returncode == 1 and "1 failed, 1 error" in ci.stdout and "skipped" not in ci.stdout, ci.stdout
    assert "CI provisions an engine CI installs is not available: module llem_no_such_engine" in ci.stdout
    assert "CI provisions Slurm is not available: no cluster answers sinfo" in ci.stdout


def test_check_skips_allows_only_the_listed_gpu_tests(tmp_path):
    allowed = "tests/backends/test_sglang.py::test_sglang_runs_for_real"
    skips = tmp_path / "skips.jsonl"
    skips.write_text(json.dumps({"test": allowed, "reason": "no NVIDIA GPU"}) + "\n")
    check = [sys.executable, str(REPO / ".ci" / "check_skips.py"), str(skips), str(REPO / ".ci" / "allowed-skips.txt")]
    ok = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "[allowed] " + allowed in ok.stdout, ok.stdout
    with open(skips, "a") as f:
        f.write(json.dumps({"test": "tests/launchers/test_launcher_slurm.py::test_x", "reason": "no Slurm"}) + "\n")
    bad = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "[NOT ALLOWED] tests/launchers/test_launcher_slurm.py::test_x: no Slurm" in bad.stdout
    none = subprocess.run(check[:2] + [str(tmp_path / "absent.jsonl"), check[3]], capture_output=True, text=True, timeout=60)
    assert none.returncode == 0 and "skipped tests: 0" in none.stdout

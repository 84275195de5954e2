"""llem report refuses to rank or plot together runs whose joules cover different parts of the
machine (metrics.energy_scope; missing: unknown) unless asked to (--mixed-scopes)."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realistic import write_trace_run  # noqa: E402

from conftest import run_llem  # noqa: E402


def _with_scope(run_dir: Path, name: str, scope) -> Path:
    other = run_dir.with_name(name)
    shutil.copytree(run_dir, other)
    rec = json.loads((other / "result.json").read_text())
    rec["identity"]["run_id"] = name
    if scope is None:
        rec["metrics"].pop("energy_scope", None)
    else:
        rec["metrics"]["energy_scope"] = scope
    (other / "result.json").write_text(json.dumps(rec))
    return other


def test_mixed_scopes_are_refused_unless_asked(tmp_path):
    run_dir = write_trace_run(tmp_path / "outputs")
    gpu = _with_scope(run_dir, "gpu-run-aaaaaaaaaaaa", "gpu")
    shutil.rmtree(run_dir)
    _with_scope(gpu, "host-run-bbbbbbbbbbbb", "gpu+cpu+dram")
    _with_scope(gpu, "old-run-cccccccccccc", None)

    out = run_llem(["report", "outputs", "--no-plots", "--no-html"], tmp_path, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stdout, out.stdout
    assert "gpu: 1 run, gpu+cpu+dram: 1 run, unknown: 1 run" in out.stdout and "--mixed-scopes" in out.stdout
    assert not (tmp_path / "outputs" / "report").exists()

    out = run_llem(["report", "outputs", "--no-plots", "--no-html", "--mixed-scopes"], tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout
    rows = list(csv.DictReader(open(tmp_path / "outputs" / "report" / "report.csv")))
    assert sorted(r["energy_scope"] for r in rows) == ["gpu", "gpu+cpu+dram", "unknown"]

    shutil.rmtree(tmp_path / "outputs" / "runs" / "host-run-bbbbbbbbbbbb")
    shutil.rmtree(tmp_path / "outputs" / "runs" / "old-run-cccccccccccc")
    out = run_llem(["report", "outputs", "--no-plots", "--no-html"], tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout  # one scope: no flag needed


def test_one_report_over_several_output_roots(tmp_path):
    for machine in ("h100", "h200/vllm"):
        write_trace_run(tmp_path / "all" / machine)
    out = run_llem(["report", "all", "--no-plots", "--no-html"], tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout
    rows = list(csv.DictReader(open(tmp_path / "all" / "report" / "report.csv")))
    assert sorted(Path(r["run_dir"]).parent.parent.name for r in rows) == ["h100", "vllm"]

"""A server sweep over workload settings is labelled by them: the H100 prefix-share sweep of
docs/results/2026-12-06-h100-prefix (vLLM's server, concurrency 16/64 x prefix_share 0/0.5/0.9, real
records) used to print six rows all labelled "vllm", the settings that told them apart in no column."""

from __future__ import annotations

import tarfile
from pathlib import Path

from llem.report.collect import from_directory
from llem.report.paper import build, markdown
from llem.report.table import flatten, sort_rows

ENG = Path(__file__).resolve().parents[2] / "docs" / "results" / "2026-12-06-h100-prefix" / "eng.tgz"


def test_a_server_sweep_is_labelled_by_the_workload_settings_that_differ(tmp_path):
    with tarfile.open(ENG) as tar:
        tar.extractall(
            tmp_path,
            members=[m for m in tar.getmembers() if m.name.startswith(("runs/prefix-vllm", "./runs/prefix-vllm"))],
            filter="data",
        )
    (root,) = [p for p in tmp_path.rglob("prefix-vllm") if p.is_dir()]
    rows = sort_rows([flatten(r) for r in from_directory(root)])
    table = build(rows, "prefix sweep")
    assert [h for _, h in table.config] == ["concurrency", "prefix_share"]
    # numbers sort as numbers, and the flags' dagger sits on the row's first cell
    lines = [ln for ln in markdown(table).splitlines() if ln.startswith("| 16") or ln.startswith("| 64")]
    assert [tuple(c.strip() for c in ln.split("|")[1:3]) for ln in lines] == [
        ("16†", "0.0"),
        ("16†", "0.5"),
        ("16†", "0.9"),
        ("64†", "0.0"),
        ("64†", "0.5"),
        ("64†", "0.9"),
    ]
    # what all runs share is in the caption; a name both groups have keeps its group
    assert "backend.seed 0" in table.caption and "workload.seed 0" in table.caption and "mode server" in table.caption


def test_a_server_sweep_plots_against_concurrency_by_series_of_what_else_differs(tmp_path):
    from PIL import Image

    from llem.report.plots import JPT, batch_axis, metric_vs_batch

    with tarfile.open(ENG) as tar:
        tar.extractall(tmp_path, members=[m for m in tar.getmembers() if "runs/prefix-vllm" in m.name], filter="data")
    (root,) = [p for p in tmp_path.rglob("prefix-vllm") if p.is_dir()]
    rows = sort_rows([flatten(r) for r in from_directory(root)])
    assert batch_axis(rows) == "workload.concurrency"  # workload.batch_size does not apply to a server
    png = metric_vs_batch(rows, tmp_path / "e.png", "t", JPT, "J", "energy per token", batch_axis(rows))
    assert Image.open(png).text["Description"] == ("6 runs in 3 series: prefix_share=0.0; prefix_share=0.5; prefix_share=0.9")

"""Paper tables (`llem report --format markdown|latex|csv`): digits from the CI half-width, units in
the headers, missing values as n/m with their reason, never 0."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import pytest

from conftest import run_llem
from llem.report.numbers import joined, plain, with_ci
from realistic import POINTS, write_point_runs, write_trace_run


@pytest.mark.parametrize(
    "value, half, expected",
    [
        (0.042137, 0.001342, ("0.0421", "0.0013")),  # the half-width's 2 significant digits set the place
        (4257.3, 131.0, ("4260", "130")),  # to the tens, left of the point
        (4257.3, 13.1, ("4257", "13")),
        (0.25, 0.0101, ("0.250", "0.010")),  # a trailing zero the CI supports is kept
        (3.2, 0.0996, ("3.20", "0.10")),  # 0.0996 rounds up to 0.10: still two digits
        (11723.0, 0.5, ("11723.00", "0.50")),
    ],
)
def test_value_keeps_the_digits_its_ci_supports(value, half, expected):
    assert with_ci(value, value - half, value + half) == expected


def test_values_without_a_ci():
    assert with_ci(2.5, None, None) == ("2.500", "")  # one repeat: no interval, four significant digits
    assert with_ci(2.5, 2.5, 2.5) == ("2.500", "")  # no spread at all: no "± 0"
    assert with_ci(None, 1.0, 2.0) == ("", "")
    # an asymmetric interval (skewed windows, llem/results/stats.py) prints its longer side: the range holds all of it
    assert with_ci(1.0, 0.9, 1.3) == ("1.00", "0.30") and with_ci(1.0, 0.7, 1.1) == ("1.00", "0.30")
    assert plain(9.9996) == "10.00" and plain(0.000123456) == "0.0001235" and plain(None) == ""
    assert joined(0.042137, 0.040795, 0.043479) == "0.0421 ± 0.0013"
    assert plain(math.inf) == "inf"


@pytest.fixture(scope="module")
def realistic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper") / "outputs"
    write_point_runs(root)
    write_trace_run(root)
    return root


def _report(root, fmt):
    out = run_llem(
        ["report", str(root), "--format", fmt, "--no-plots", "--no-html", "--out", str(root.parent / fmt)],
        cwd=root.parent,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout
    return out.stdout, (root.parent / fmt / f"table.{ {'markdown': 'md', 'latex': 'tex', 'csv': 'csv'}[fmt] }").read_text()


def test_markdown_table(realistic_root):
    stdout, saved = _report(realistic_root, "markdown")
    assert saved in stdout  # printed on stdout (the file list goes to stderr, which run_llem merges)
    lines = saved.splitlines()
    assert lines[0].startswith(
        "Table: llem report: outputs: mean ± 95% CI half-width over 3 measured windows; all runs: "
        "model tinyllama-1.1b, hardware h100"
    )
    header = lines[2]
    assert "| Throughput (tok/s) | Energy (J/token) | Power (W) | Latency p50 (s) |" in header
    assert "| Batch |" in header and "cache_implementation" in header and "Model" not in header  # shared: caption
    rows = [l for l in lines[4:] if l.startswith("| ")]
    assert len(rows) == len(POINTS) + 1
    (st64,) = [r for r in rows if "| 64 | static |" in r]
    cells = [c.strip() for c in st64.strip("|").split("|")]
    value, half = cells[4].split(" ± ")
    assert float(value) == pytest.approx(0.036, rel=0.01)
    # as many decimals in the value as in its half-width, and two significant digits in the latter
    assert len(value.split(".")[1]) == len(half.split(".")[1]) and len(half.lstrip("0.")) == 2, cells[4]


def test_latex_table(realistic_root):
    _, tex = _report(realistic_root, "latex")
    assert tex.startswith("\\begin{table}") and tex.rstrip().endswith("\\end{table}")
    assert "\\toprule" in tex and "\\bottomrule" in tex and "cache\\_implementation" in tex
    assert "$\\pm$ 95\\% CI" in tex  # the caption's ± and % are LaTeX, not raw characters
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0].strip().splitlines()
    assert len(body) == len(POINTS) + 1 and all(l.endswith("\\\\") and l.count("&") == 6 for l in body)
    assert any(re.search(r"\$0\.0360 \\pm 0\.00\d\d\$", l) for l in body), body


def test_csv_table_missing_is_empty(tmp_path):
    root = tmp_path / "outputs"
    write_point_runs(root)
    run = next((root / "runs").iterdir())
    record = json.loads((run / "result.json").read_text())
    record["metrics"]["energy_j_per_output_token"] = None
    record["metrics"]["energy_reason"] = "no energy counter readable on this machine"
    (run / "result.json").write_text(json.dumps(record))
    _, text = _report(root, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"energy_j_per_output_token [J/token]", "energy_j_per_output_token_ci95_half_width [J/token]"} <= set(rows[0])
    (missing,) = [r for r in rows if r["run_id"] == run.name]
    assert (
        missing["energy_j_per_output_token [J/token]"] == ""
        and missing["energy_j_per_output_token_ci95_half_width [J/token]"] == ""
    )
    _, md = _report(root, "markdown")
    assert "n/m: not measured (no energy counter readable on this machine)." in md

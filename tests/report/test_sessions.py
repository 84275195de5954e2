"""llem report's multi-turn tables, on the multi-turn run measured on an H100 (2026-12-07, vLLM 0.26.0, 128
conversations of 4 turns: docs/results/2026-12-07d-h100-example-turns-llama-server): sessions.csv, the
terminal table and the markdown one carry the result's own per-conversation and per-turn figures."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import pytest
from rich.console import Console

from llem.report.collect import from_directory
from llem.report.sessions import markdown, print_terminal, session_rows, write_csv

ENG = Path(__file__).resolve().parents[2] / "docs" / "results" / "2026-12-07d-h100-example-turns-llama-server" / "eng.tgz"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("turns")
    with tarfile.open(ENG) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(("runs/turns-vllm/runs", "runs/example/runs"))]
        tar.extractall(tmp, members=members, filter="data")
    return tmp / "runs"


@pytest.fixture(scope="module")
def records(runs_dir):
    return [r.record for r in from_directory(runs_dir / "turns-vllm")] + [r.record for r in from_directory(runs_dir / "example")]


def test_one_row_per_turn_of_the_multi_turn_run_only(records, tmp_path):
    rows = session_rows(records)  # three offline runs beside it have no sessions: no rows
    assert [r["turn"] for r in rows] == [0, 1, 2, 3] and {r["backend"] for r in rows} == {"vllm"}
    assert {r["conversations"] for r in rows} == {128} and {r["turns"] for r in rows} == {4}
    assert rows[0]["energy_j_per_conversation"] == pytest.approx(17.6474, abs=1e-4)
    assert [round(r["prefix_cache_hit_rate"], 3) for r in rows] == [0.0, 0.279, 0.574, 0.693]
    assert rows[0]["history_served_share"] is None and rows[3]["history_served_share"] == pytest.approx(0.974, abs=1e-3)
    assert [round(r["mean_prompt_tokens"]) for r in rows] == [58, 181, 305, 429]
    path = write_csv(rows, tmp_path / "sessions.csv")
    got = list(csv.DictReader(path.open()))
    assert len(got) == 4 and got[0]["history_served_share"] == ""  # missing is empty, never 0
    assert float(got[1]["energy_j_per_output_token"]) == pytest.approx(rows[1]["energy_j_per_output_token"])
    assert write_csv([], tmp_path / "none.csv") is None and not (tmp_path / "none.csv").exists()


def test_the_terminal_and_markdown_tables_say_the_same(records):
    rows = session_rows(records)
    text = markdown(rows)
    assert "128 conversations of 4 turns, 17.65 J per conversation (8.734 J above idle)" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert len(lines) == 5 and lines[1].startswith("| 0 | 58 | 440.5 | 0.02688 |") and "| n/a |" in lines[1]
    out = io.StringIO()
    print_terminal(rows, Console(file=out, width=200))
    shown = out.getvalue()
    assert "17.65 J per conversation" in shown and "0.693" in shown and "0.02688" in shown
    empty = io.StringIO()
    print_terminal([], Console(file=empty))
    assert markdown([]) == "" and empty.getvalue() == ""  # runs without conversations: no table at all


def test_llem_report_writes_sessions_csv_and_prints_the_table(runs_dir, tmp_path, capsys):
    from llem.report.build import build_report

    out = build_report(str(runs_dir / "turns-vllm"), tmp_path / "report", plots=False, html=False, fmt="markdown")
    assert out["files"]["sessions_csv"] == tmp_path / "report" / "sessions.csv"
    assert len(list(csv.DictReader(out["files"]["sessions_csv"].open()))) == 4
    printed = capsys.readouterr().out
    assert "Multi-turn sessions, vllm" in printed and "17.65 J per conversation" in printed
    assert "Multi-turn sessions" in (tmp_path / "report" / "table.md").read_text()


def test_report_html_shows_each_turn_and_says_when_there_is_none(runs_dir, tmp_path):
    from llem.report.build import build_report

    out = build_report(str(runs_dir / "turns-vllm"), tmp_path / "turns", plots=False, fmt="markdown")
    page = out["files"]["html"].read_text()
    section = page.split("<h2>Multi-turn sessions</h2>", 1)[1].split("<h2>", 1)[0]
    assert "128 conversations of 4 turns, 17.65 J per conversation (8.734 J above idle)" in section
    assert section.count("<tr><td>") == 4 and "<td>0.02688</td>" in section and "<td>0.693</td>" in section
    assert "<td>n/a</td>" in section  # turn 0 has no history to serve: not shown as 0
    offline = build_report(str(runs_dir / "example"), tmp_path / "example", plots=False, fmt="markdown")
    none = offline["files"]["html"].read_text().split("<h2>Multi-turn sessions</h2>", 1)[1].split("<h2>", 1)[0]
    assert "no multi-turn runs" in none and "<table" not in none

"""Multi-turn sessions in llem report's outputs (workload.turns > 1, server mode): per run, energy per
conversation, and per turn what turn k cost as its history grew, its TTFT and how much of its prompt the
engine's prefix cache served. The figures are the result's own (`server.sessions`, llem/harness/server.py);
this module only lays them out: sessions.csv, a terminal table, a markdown table and report.html's section."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Optional

from llem.report.table import write_csv as write_table_csv

CSV_COLUMNS = [
    "run_id",
    "backend",
    "conversations",
    "turns",
    "energy_j_per_conversation",
    "dynamic_energy_j_per_conversation",
    "turn",
    "mean_prompt_tokens",
    "energy_j",
    "energy_j_per_output_token",
    "dynamic_energy_j_per_output_token",
    "ttft_p50_s",
    "ttft_p90_s",
    "prefix_cache_hit_rate",
    "history_served_share",
    "preemptions",
    "duration_s",
    "prefix_cache_reason",
]
# the shown columns: (key, header, format)
SHOWN = [
    ("turn", "turn", "d"),
    ("mean_prompt_tokens", "prompt tokens (mean)", ".0f"),
    ("energy_j", "J (turn)", ".4g"),
    ("energy_j_per_output_token", "J / output token", ".4g"),
    ("dynamic_energy_j_per_output_token", "dynamic J / output token", ".4g"),
    ("ttft_p50_s", "TTFT p50 (s)", ".3g"),
    ("prefix_cache_hit_rate", "prefix-cache hit rate", ".3f"),
    ("history_served_share", "history from cache", ".3f"),
    ("preemptions", "preemptions", "g"),
]


def session_rows(records: list[dict]) -> list[dict]:
    """One row per turn of every run that ran conversations, in the runs' order; [] where none did."""
    rows = []
    for rec in records:
        sessions = (rec.get("server") or {}).get("sessions")
        if not sessions or not sessions.get("per_turn"):
            continue
        run = {
            "run_id": (rec.get("identity") or {}).get("run_id"),
            "backend": ((rec.get("spec") or {}).get("backend") or {}).get("name"),
            "conversations": sessions.get("conversations"),
            "turns": sessions.get("turns"),
            "energy_j_per_conversation": sessions.get("energy_j_per_conversation"),
            "dynamic_energy_j_per_conversation": sessions.get("dynamic_energy_j_per_conversation"),
        }
        for turn in sessions["per_turn"]:
            rows.append({**run, **{k: turn.get(k) for k in CSV_COLUMNS if k not in run}})
    return rows


def write_csv(rows: list[dict], path: Path) -> Optional[Path]:
    """sessions.csv (a missing value is an empty cell, never 0); None, and no file, without sessions."""
    if not rows:
        return None
    write_table_csv(rows, path, CSV_COLUMNS)
    return path


def _cell(value, spec: str) -> str:
    if value is None:
        return "n/a"
    return f"{int(value)}" if spec == "d" else f"{value:{spec}}"


def _runs(rows: list[dict]) -> list[tuple[dict, list[dict]]]:
    out: list[tuple[dict, list[dict]]] = []
    for r in rows:
        if not out or out[-1][0]["run_id"] != r["run_id"]:
            out.append((r, []))
        out[-1][1].append(r)
    return out


def _heading(run: dict) -> str:
    per = _cell(run.get("energy_j_per_conversation"), ".4g")
    dyn = _cell(run.get("dynamic_energy_j_per_conversation"), ".4g")
    return (
        f"{run['backend']} {run['run_id']}: {run['conversations']} conversations of {run['turns']} turns, "
        f"{per} J per conversation ({dyn} J above idle)"
    )


def markdown(rows: list[dict]) -> str:
    """The sessions as markdown, one table per run; '' without sessions."""
    parts = []
    for run, turns in _runs(rows):
        lines = [f"Multi-turn sessions, {_heading(run)}:", ""]
        lines.append("| " + " | ".join(h for _, h, _ in SHOWN) + " |")
        lines.append("|" + "|".join("--:" for _ in SHOWN) + "|")
        lines += ["| " + " | ".join(_cell(t.get(k), f) for k, _, f in SHOWN) + " |" for t in turns]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + ("\n" if parts else "")


def html(rows: list[dict]) -> str:
    """The sessions for report.html, one table per run (escaped); a note without sessions."""
    if not rows:
        return '<p class="note">no multi-turn runs (workload.turns &gt; 1)</p>'
    head = "".join(f"<th>{escape(h)}</th>" for _, h, _ in SHOWN)
    parts = []
    for run, turns in _runs(rows):
        body = "".join("<tr>" + "".join(f"<td>{escape(_cell(t.get(k), f))}</td>" for k, _, f in SHOWN) + "</tr>" for t in turns)
        parts.append(
            f'<h3>{escape(_heading(run))}</h3><table class="sessions"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        )
    return "".join(parts)


def print_terminal(rows: list[dict], console) -> None:
    """The sessions as rich tables on the terminal, one per run; nothing without sessions."""
    from rich.table import Table

    for run, turns in _runs(rows):
        table = Table(title=f"Multi-turn sessions: {_heading(run)}", title_justify="left")
        for _, header, _ in SHOWN:
            table.add_column(header, justify="right")
        for t in turns:
            table.add_row(*(_cell(t.get(k), f) for k, _, f in SHOWN))
        console.print(table)

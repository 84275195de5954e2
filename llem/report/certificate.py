"""The comparison certificate in llem report's outputs: the terminal (rich), markdown, CSV, JSON and
report.html. The checks themselves are llem/results/comparison.py (plain data)."""

from __future__ import annotations

import csv
import json
from html import escape
from pathlib import Path

from llem.results.comparison import DIFFERS, NOT_APPLICABLE, SAME, UNKNOWN, certificate_lines, summary

CSV_COLUMNS = [
    "reference",
    "run",
    "reference_backend",
    "backend",
    "like_for_like",
    "check",
    "verdict",
    "reference_value",
    "value",
    "reason",
    "configured",
]
STYLE = {SAME: "green", DIFFERS: "red", UNKNOWN: "yellow", NOT_APPLICABLE: "dim"}
VERDICT_STYLE = {"yes": "green", "no": "bold red", "unverified": "yellow"}


def write_files(certs: list[dict], out_dir: Path) -> dict:
    """certificate.json (the plain data) and certificate.csv (one row per pair and check)."""
    files = {"certificate_json": out_dir / "certificate.json", "certificate_csv": out_dir / "certificate.csv"}
    files["certificate_json"].write_text(json.dumps(certs, indent=1, default=str) + "\n", encoding="utf-8")
    with open(files["certificate_csv"], "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for c in certs:
            for x in c["checks"]:
                w.writerow(
                    [
                        c["a"],
                        c["b"],
                        c["a_backend"],
                        c["b_backend"],
                        c["like_for_like"],
                        x["label"],
                        x["verdict"],
                        "" if x["a"] is None else x["a"],
                        "" if x["b"] is None else x["b"],
                        x["reason"] or "",
                        "; ".join(x["configured"]),
                    ]
                )
    return files


def print_terminal(certs: list[dict], con) -> None:
    """Per pair: its verdict in colour, then the lines of llem.results.comparison.certificate_lines."""
    from rich.markup import escape as markup_escape

    for c in certs:
        lines = certificate_lines([c])
        head = lines[0].rsplit("like for like: ", 1)[0]
        style = VERDICT_STYLE[c["like_for_like"]]
        con.print(f"{markup_escape(head)}like for like: [{style}]{markup_escape(summary(c))}[/{style}]")
        for line, check in zip(lines[1:], _shown_checks(c)):
            colour = STYLE.get(check, "green")
            con.print(f"[{colour}]{markup_escape(line)}[/{colour}]")


def _shown_checks(cert: dict) -> list[str]:
    """The verdict of each line after the head, as certificate_lines orders them."""
    out = [SAME] if any(x["verdict"] == SAME for x in cert["checks"]) else []
    return out + [x["verdict"] for x in cert["checks"] if x["verdict"] != SAME]


def _md(text) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")


def markdown(certs: list[dict]) -> str:
    """A section per pair: its verdict, then a table of the checks with both values."""
    if not certs:
        return ""
    out = ["", "## Comparison certificate", ""]
    for c in certs:
        out += [
            f"**{_md(c['b'])}** ({_md(c['b_backend'])}) vs **{_md(c['a'])}** ({_md(c['a_backend'])}, the reference): "
            f"like for like: **{_md(summary(c))}**",
            "",
            f"| check | verdict | {_md(c['b'])} | {_md(c['a'])} | why |",
            "|:--|:--|:--|:--|:--|",
        ]
        for x in c["checks"]:
            why = (x["reason"] or "") + (f" (as configured: {'; '.join(x['configured'])})" if x["configured"] else "")
            out.append(f"| {x['label']} | {x['verdict']} | {_md(x['b'])} | {_md(x['a'])} | {_md(why)} |")
        out.append("")
    return "\n".join(out) + "\n"


def notes(certs: list[dict]) -> list[str]:
    """Notes for a paper table: the pairs that are not like for like, and what differs."""
    return [f"Not like for like: {c['b']} vs {c['a']} ({summary(c)})." for c in certs if c["like_for_like"] == "no"]


def html(certs: list[dict]) -> str:
    if not certs:
        return '<p class="note">no two runs of the same model, workload and hardware to compare</p>'
    parts = []
    for c in certs:
        verdict = c["like_for_like"]
        parts.append(
            f"<h3>{escape(c['b'])} ({escape(str(c['b_backend']))}) vs {escape(c['a'])} "
            f'({escape(str(c["a_backend"]))}, the reference)</h3><p class="l4l-{verdict}">like for like: '
            f"<strong>{escape(summary(c))}</strong></p>"
        )
        rows = []
        for x in c["checks"]:
            why = (x["reason"] or "") + (f" (as configured: {'; '.join(x['configured'])})" if x["configured"] else "")
            rows.append(
                f'<tr class="check-{x["verdict"].replace("/", "")}"><td>{escape(x["label"])}</td>'
                f"<td>{escape(x['verdict'])}</td><td>{escape('' if x['b'] is None else str(x['b']))}</td>"
                f"<td>{escape('' if x['a'] is None else str(x['a']))}</td><td>{escape(why)}</td></tr>"
            )
        parts.append(
            f'<table class="certificate"><thead><tr><th>check</th><th>verdict</th><th>{escape(c["b"])}</th>'
            f"<th>{escape(c['a'])} (reference)</th><th>why</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return "".join(parts)

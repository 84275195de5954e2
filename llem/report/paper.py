"""Tables for papers: `llem report --format markdown|latex|csv`.

One row per run; the configuration columns are those that differ between the runs (what they
share goes in the caption); each measurement carries its unit in the header and its 95% CI as
± half-width, rounded to the digits the interval supports (llem/report/numbers.py). A missing
measurement reads "n/m" (not measured) with its reason in a note, never 0; a run with validity
flags is marked with a dagger and its flags are listed in the notes. Where runs of one model, workload and
hardware were compared, a "Like for like" column (markdown, CSV) says each run's verdict against its
group's reference, and the notes name the pairs that are not like for like (llem/results/comparison.py)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from llem.report.certificate import markdown as certificate_markdown
from llem.report.certificate import notes as certificate_notes
from llem.report.numbers import plain, with_ci
from llem.report.table import CI_KEYS, setting_columns, settings_caption, varying_keys

FORMATS = {"markdown": "md", "latex": "tex", "csv": "csv"}

CONFIG = [
    ("backend", "Backend"),
    ("model", "Model"),
    ("hardware", "Hardware"),
    ("dtype", "dtype"),
    ("batch_size", "Batch"),
    ("input_tokens", "In tok"),
    ("output_tokens", "Out tok"),
]
# (row key, header, unit); keys with a CI in the rows get "± half-width"
MEASURES = [
    ("output_tokens_per_s", "Throughput", "tok/s"),
    ("energy_j_per_output_token", "Energy", "J/token"),
    ("avg_power_w", "Power", "W"),
    ("batch_latency_p50_s", "Latency p50", "s"),
]
# The order a runs table (terminal, report.html) leads with: what the report is about first
HEADLINE_ORDER = [MEASURES[1], MEASURES[0], MEASURES[2], MEASURES[3]]
NOT_MEASURED = "n/m"
DAGGER = "†"


@dataclass
class PaperTable:
    config: list[tuple[str, str]]  # (key, header) of the columns that tell runs apart
    rows: list[dict]
    caption: str
    notes: list[str] = field(default_factory=list)
    certificates: list[dict] = field(default_factory=list)  # llem/results/comparison.py, per compared pair

    @property
    def like_for_like(self) -> bool:
        """Whether the rows carry a comparison verdict (a column "Like for like")."""
        return any(r.get("like_for_like") for r in self.rows)


def config_columns(rows: list[dict]) -> tuple[list[tuple[str, str]], str]:
    """The columns that tell the runs apart, and the caption's text for the rest (llem/report/table.py
    settings_caption: what all runs share, then each engine's own settings)."""
    cols = CONFIG + setting_columns(rows)
    ok = [r for r in rows if r.get("status") == "ok"] or rows
    varying = set(varying_keys(ok, [k for k, _ in cols]))
    shown = [(k, h) for k, h in cols if k in varying] or [("backend", "Backend")]
    rest = [(k, h.lower() if h != "dtype" else h) for k, h in cols if (k, h) not in shown]
    return shown, settings_caption(ok, rest, varying)


def build(rows: list[dict], title: str, certs=()) -> PaperTable:
    config, settings = config_columns(rows)
    repeats = sorted({r.get("repeats") for r in rows if r.get("repeats")})
    caption = f"{title}: mean ± 95% CI half-width over {'/'.join(map(str, repeats)) or 'the'} measured windows"
    if settings:
        caption += "; " + settings
    table = PaperTable(config, rows, caption + ".", certificates=list(certs))
    for reason in sorted({r["energy_reason"] for r in rows if r.get("energy_reason")}):
        table.notes.append(f"{NOT_MEASURED}: not measured ({reason}).")
    for r in rows:
        if r.get("status") == "ok" and r.get("validity_flags"):
            table.notes.append(f"{DAGGER} {r['run_id']}: {r['validity_flags']}.")
        elif r.get("status") != "ok":
            table.notes.append(f"{r['run_id']} {r.get('status')}: {r.get('error')}.")
    return table


def _cells(row: dict, key: str) -> tuple[str, str]:
    if row.get("status") != "ok":
        return "", ""
    if row.get(key) is None:
        return NOT_MEASURED, ""
    if f"{key}_ci95_low" in row:
        return with_ci(row[key], row.get(f"{key}_ci95_low"), row.get(f"{key}_ci95_high"))
    return plain(row[key]), ""


def _label(row: dict, key: str, first: bool) -> str:
    """A config cell; the row's first carries the dagger of its flags (the note under the table)."""
    v = row.get(key)
    text = "" if v is None else str(v)
    if first and row.get("status") == "ok" and row.get("validity_flags"):
        text += DAGGER
    return text


def markdown(t: PaperTable, measures=MEASURES, full_certificate: bool = False) -> str:
    """The table; where runs were compared, a "Like for like" column, and in the notes the pairs that are not
    like for like (full_certificate: every pair's checks after the notes, as the terminal prints them)."""
    extra = [("like_for_like", "Like for like")] if t.like_for_like else []
    head = [h for _, h in t.config] + [f"{h} ({u})" for _, h, u in measures] + [h for _, h in extra]
    lines = [
        f"Table: {t.caption}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(":--" for _ in t.config) + "|" + "|".join("--:" for _ in measures) + "|" + "".join(":--|" for _ in extra),
    ]
    for r in t.rows:
        cells = [_label(r, k, i == 0) for i, (k, _) in enumerate(t.config)]
        for key, _, _ in measures:
            v, h = _cells(r, key)
            cells.append(f"{v} ± {h}" if h else v)
        cells += [str(r.get(k) or "") for k, _ in extra]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = t.notes + ([] if full_certificate else certificate_notes(t.certificates))
    return (
        "\n".join(lines + ([""] + notes if notes else []))
        + "\n"
        + (certificate_markdown(t.certificates) if full_certificate else "")
    )


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "±": r"$\pm$",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    DAGGER: r"\textsuperscript{\dag}",
}


def _tex(text: str) -> str:
    return "".join(_TEX.get(c, c) for c in str(text))


def latex(t: PaperTable) -> str:
    """A booktabs table (\\usepackage{booktabs}); values in math mode so ± and digits align."""
    head = [_tex(h) for _, h in t.config] + [f"{_tex(h)} ({_tex(u)})" for _, h, u in MEASURES]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{{_tex(t.caption)}}}",
        r"\begin{tabular}{" + "l" * len(t.config) + "r" * len(MEASURES) + "}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
    ]
    for r in t.rows:
        cells = [_tex(_label(r, k, i == 0)) for i, (k, _) in enumerate(t.config)]
        for key, _, _ in MEASURES:
            v, h = _cells(r, key)
            cells.append(f"${v} \\pm {h}$" if h else (f"${v}$" if v and v != NOT_MEASURED else _tex(v)))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = t.notes + certificate_notes(t.certificates)
    if notes:
        lines += [r"\par\smallskip\footnotesize"] + [_tex(n) + r"\\" for n in notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def csv_text(t: PaperTable) -> str:
    """Value and CI half-width in separate columns (for pgfplotstable, pandas), rounded as printed."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["run_id"] + [k for k, _ in t.config]
    for key, _, unit in MEASURES:
        head += [f"{key} [{unit}]"] + ([f"{key}_ci95_half_width [{unit}]"] if key in CI_KEYS else [])
    w.writerow(head + ["validity_flags"] + (["like_for_like"] if t.like_for_like else []))
    for r in t.rows:
        cells = [r.get("run_id")] + ["" if r.get(k) is None else r.get(k) for k, _ in t.config]
        for key, _, _ in MEASURES:
            v, h = _cells(r, key)
            cells += ["" if v == NOT_MEASURED else v] + ([h] if key in CI_KEYS else [])  # missing: an empty cell
        w.writerow(cells + [r.get("validity_flags") or ""] + ([r.get("like_for_like") or ""] if t.like_for_like else []))
    return buf.getvalue()


def render(rows: list[dict], title: str, fmt: str, certs=()) -> str:
    t = build(rows, title, certs)
    return {"markdown": markdown, "latex": latex, "csv": csv_text}[fmt](t)


def runs_markdown(rows: list[dict], title: str, certs=()) -> str:
    """The runs table for a pipe (llem report | less): markdown, J/token first, as on the terminal."""
    return markdown(build(rows, title, certs), HEADLINE_ORDER, full_certificate=True)

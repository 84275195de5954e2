"""What `llem report` builds from a set of runs: the comparison table (terminal, or a paper format),
report.html, report.csv, the certificate files and the PNG plots (llem/cli/report.py is the command)."""

from __future__ import annotations

import sys
from pathlib import Path

from llem.bundle.archive import bundle_stem
from llem.errors import UserError
from llem.host.progress import console
from llem.report.certificate import print_terminal as print_certificate
from llem.report.certificate import write_files as certificate_files
from llem.report.collect import collect, skipped_lines
from llem.report.html import write_html
from llem.report.identity import identity_groups, identity_lines
from llem.report.paper import FORMATS, render, runs_markdown
from llem.report.plots import JPT, TPS, batch_axis, energy_vs_throughput, metric_vs_batch
from llem.report.sessions import markdown as sessions_markdown
from llem.report.sessions import print_terminal as print_sessions
from llem.report.sessions import session_rows
from llem.report.sessions import write_csv as write_sessions_csv
from llem.report.table import flatten, mixed_scopes, render_table, sort_rows, write_csv
from llem.report.timeseries import plot_run_power
from llem.report.tradeoffs import tradeoff_plots
from llem.results.comparison import certificates, row_verdicts


def out_dir_for(source: str, out: str | None) -> Path:
    if out:
        return Path(out)
    if source.startswith("mlflow:"):
        return Path(f"llem-report-{source[len('mlflow:') :] or 'llem'}")
    if Path(source).is_file():  # a bundle: next to where the user is, not inside an archive's folder
        return Path(f"llem-report-{bundle_stem(Path(source))}")
    return Path(source) / "report"


def _title(source: str) -> str:
    return source if source.startswith("mlflow:") else Path(source).name


def _plots(rows: list[dict], runs, out_dir: Path, title: str, timeseries: int) -> dict:
    files = {"energy_vs_throughput": energy_vs_throughput(rows, out_dir / "energy_vs_throughput.png", title)}
    x = batch_axis(rows)  # batch size offline, concurrency for a set of server runs
    axis = "batch_size" if x == "batch_size" else "concurrency"
    files[f"energy_vs_{axis}"] = metric_vs_batch(
        rows, out_dir / f"energy_vs_{axis}.png", title, JPT, "energy per output token (J)", "energy per token", x
    )
    files[f"throughput_vs_{axis}"] = metric_vs_batch(
        rows, out_dir / f"throughput_vs_{axis}.png", title, TPS, "throughput (output tokens / s)", "throughput", x
    )
    files.update(tradeoff_plots(rows, out_dir, title))
    plotted = 0
    for run in runs:
        if plotted >= timeseries or not run.ok or run.run_dir is None:
            continue
        name = f"power_{run.record['identity'].get('config_hash', plotted)}.png"
        if plot_run_power(run.record, run.run_dir, out_dir / name) is not None:
            files[name] = out_dir / name
            plotted += 1
    files["timeseries_plotted"] = plotted
    return files


def build_report(
    source: str,
    out_dir: Path,
    uri: str | None = None,
    plots: bool = True,
    timeseries: int = 4,
    fmt: str = "terminal",
    html: bool = True,
    mixed_ok: bool = False,
) -> dict:
    """Collect the runs, print the table (terminal, or a paper format on stdout), write the files."""
    runs = collect(source, uri, out_dir)
    for line in skipped_lines():
        print(f"llem report: {line}", file=sys.stderr)
    if not runs:
        raise UserError(f"{source} holds no finished runs (no result.json or failure.json found): run a measurement first.")
    rows = sort_rows([flatten(r) for r in runs])
    records = {str(r.record.get("identity", {}).get("run_id")): r.record for r in runs}
    certs = certificates([records[str(row["run_id"])] for row in rows if str(row["run_id"]) in records])
    verdicts = row_verdicts(certs)
    for row in rows:  # the table's "like for like" column: each run against its group's reference
        row["like_for_like"] = verdicts.get(str(row["run_id"]))
    scopes = mixed_scopes(rows)
    if scopes and not mixed_ok:
        listed = ", ".join(f"{scope}: {n} run{'s' if n > 1 else ''}" for scope, n in sorted(scopes.items()))
        raise UserError(
            f"{source} holds runs whose energy covers different parts of the machine ({listed}; "
            f"metrics.energy_scope), so their J/token cannot be ranked or plotted together: report "
            f"each scope's runs on its own, or pass --mixed-scopes to show them side by side with the "
            f"scope in every row."
        )
    title = _title(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict = {"csv": out_dir / "report.csv"}
    write_csv(rows, files["csv"])
    files.update(certificate_files(certs, out_dir))
    sessions = session_rows([r.record for r in runs if r.ok])  # multi-turn runs: per conversation and per turn
    if write_sessions_csv(sessions, out_dir / "sessions.csv") is not None:
        files["sessions_csv"] = out_dir / "sessions.csv"
    if fmt == "terminal" and not sys.stdout.isatty():  # a pipe or a file: a rich table there is cut to 80
        fmt, piped = "markdown", True  # columns with "…" in every cell; markdown keeps every digit
    else:
        piped = False
    if fmt == "terminal":
        render_table(rows, f"llem report: {title} ({len(rows)} runs)")
    else:
        text = runs_markdown(rows, f"llem report: {title}", certs) if piped else render(rows, f"llem report: {title}", fmt, certs)
        if sessions and (piped or fmt == "markdown"):
            text += "\n" + sessions_markdown(sessions)
        if not piped:
            files["table"] = out_dir / f"table.{FORMATS[fmt]}"
            files["table"].write_text(text, encoding="utf-8")
        sys.stdout.write(text)
        sys.stdout.flush()
    identity = identity_groups([r.record for r in runs if r.ok])
    for line in identity_lines(identity):
        console().print(line)
    if fmt == "terminal":  # markdown carries its certificate in its text; the other formats in their notes
        print_certificate(certs, console())
        print_sessions(sessions, console())
    if plots:
        files.update(_plots(rows, runs, out_dir, title, timeseries))
    if html:
        files["html"] = write_html(rows, runs, files, out_dir / "report.html", f"llem report: {title}", source, certs, sessions)
    return {"rows": rows, "files": files, "out_dir": out_dir, "identity": identity, "certificates": certs, "records": records}

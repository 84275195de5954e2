"""`llem report SOURCE`: comparison table, report.html, CSV and PNG plots for a set of runs.

SOURCE is a sweep dir (<output_root>/hydra/sweeps/<time>-<pid>), an output root (outputs), a run dir,
a result bundle written by `llem export` (.tar.gz), or mlflow:EXPERIMENT (with --uri, default
sqlite:///mlflow.db). --format markdown|latex|csv prints a table for a paper (and saves it as
table.md / table.tex / table.csv). Runs of one model, workload and hardware are certified against
their group's first (llem/results/comparison.py): a "like for like" column, each pair's checks after
the table, certificate.csv and certificate.json."""

from __future__ import annotations

import argparse
import sys

from llem.errors import UserError
from llem.host.progress import console
from llem.report.build import build_report, out_dir_for
from llem.report.paper import FORMATS
from llem.report.slo import choose, slo_lines


def _seconds(text: str) -> float:
    """An SLO in seconds: a finite number above 0 (argparse turns the ValueError into one usage line, exit 2)."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


_seconds.__name__ = "duration (seconds > 0)"  # what argparse's "invalid ... value" names


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llem report", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument(
        "source",
        nargs="?",
        default="outputs",
        help="sweep dir, output root, run dir, bundle (.tar.gz), or mlflow:EXPERIMENT (default: outputs)",
    )
    p.add_argument(
        "--out",
        help="folder for report.html, report.csv and the PNGs (default: SOURCE/report, "
        "./llem-report-BUNDLE for a bundle, ./llem-report-EXPERIMENT for MLflow)",
    )
    p.add_argument(
        "--format",
        choices=["terminal", *FORMATS],
        default="terminal",
        help="terminal (default): a table on the terminal (markdown on stdout when the output is not a "
        "terminal); markdown, latex or csv: a table for a paper on stdout, with units and CIs rounded "
        "to the digits they support",
    )
    p.add_argument("--no-html", action="store_true", help="do not write report.html")
    p.add_argument("--uri", help="MLflow tracking URI for mlflow:EXPERIMENT (default: sqlite:///mlflow.db)")
    p.add_argument("--no-plots", action="store_true", help="table and CSV only")
    p.add_argument(
        "--mixed-scopes",
        action="store_true",
        help="report runs whose joules cover different parts of the machine (metrics.energy_scope: gpu, "
        "gpu+cpu+dram, ...) together; without it llem refuses to rank or plot them side by side",
    )
    p.add_argument(
        "--timeseries", type=int, default=4, metavar="N", help="plot the power time series of up to N runs (default: 4)"
    )
    p.add_argument(
        "--slo-ttft-s",
        type=_seconds,
        metavar="S",
        help="name the lowest-energy run whose p90 time to first token is within S seconds",
    )
    p.add_argument(
        "--slo-latency-s",
        type=_seconds,
        metavar="S",
        help="name the lowest-energy run whose p90 latency (per request in server mode, per batch offline) is within S",
    )
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    out_dir = out_dir_for(args.source, args.out)
    try:
        report = build_report(
            args.source, out_dir, args.uri, not args.no_plots, args.timeseries, args.format, not args.no_html, args.mixed_scopes
        )
    except UserError as exc:
        print(f"llem: error: {exc}", file=sys.stderr)
        return 2
    con = console()
    if args.slo_ttft_s is not None or args.slo_latency_s is not None:
        for line in slo_lines(choose(report["rows"], args.slo_ttft_s, args.slo_latency_s, report["records"])):
            con.print(line)
    files = report["files"]
    if "html" in files:
        con.print(f"[bold]llem report[/bold] wrote {files['html']}")
    con.print(f"  {files['csv']}")
    for key, path in files.items():
        if key not in ("csv", "html", "timeseries_plotted"):
            con.print(f"  {path}")
    if not args.no_plots and not files.get("timeseries_plotted"):
        con.print("[dim]  no power time series in these runs (the sampler records one where a GPU sensor is readable)[/dim]")
    return 0

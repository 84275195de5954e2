"""Comparison figures: J/token vs throughput with the Pareto front, J/token and throughput vs
batch size per configuration. Error bars are 95% confidence intervals over repeats where present."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llem.report.style import DPI, FIGSIZE, legend_below, maybe_log, not_measured, pyplot, title as wrap_title
from llem.report.table import label, varying_keys

JPT = "energy_j_per_output_token"
TPS = "output_tokens_per_s"


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of (throughput, J/token) points not dominated: nothing is as fast and as frugal."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], points[i][1]))
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return sorted(front, key=lambda i: points[i][0])


def _err(row: dict, key: str) -> Optional[tuple[float, float]]:
    lo, hi, v = row.get(f"{key}_ci95_low"), row.get(f"{key}_ci95_high"), row.get(key)
    if lo is None or hi is None or v is None:
        return None
    lo = max(lo, 0.0)  # throughput and energy are positive: the drawn bar stops at 0 (the CSV keeps the CI)
    return max(v - lo, 0.0), max(hi - v, 0.0)


def _errorbar(ax, row: dict, x: str, y: str, **kw) -> None:
    xe, ye = _err(row, x), _err(row, y)
    ax.errorbar(
        [row[x]],
        [row[y]],
        xerr=None if xe is None else [[xe[0]], [xe[1]]],
        yerr=None if ye is None else [[ye[0]], [ye[1]]],
        capsize=3,
        elinewidth=0.8,
        **kw,
    )


def _reason(rows: list[dict]) -> Optional[str]:
    reasons = sorted({r["energy_reason"] for r in rows if r.get("energy_reason")})
    return "; ".join(reasons) or None


def _ci_note(rows: list[dict], keys: tuple[str, ...]) -> Optional[str]:
    """The note under the legend (never on the data) when error bars are drawn."""
    return "error bars: 95% CI over repeats" if any(_err(r, k) for r in rows for k in keys) else None


def energy_vs_throughput(rows: list[dict], path: Path, title: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ok = [r for r in rows if r.get("status") == "ok" and r.get(TPS) is not None]
    measured = [r for r in ok if r.get(JPT) is not None]
    ax.set_title(wrap_title(f"{title}: energy per token vs throughput"))
    if not measured:
        desc = f"energy not measured: {_reason(ok) or 'no completed runs'}"
        not_measured(ax, "energy", _reason(ok) or "no completed runs")
    else:
        keys = varying_keys(measured) or ["backend"]
        groups = [k for k in keys if k != "batch_size"] or ["backend"]
        colors = {g: f"C{i}" for i, g in enumerate(sorted({label(r, groups) for r in measured}))}
        for r in measured:
            g = label(r, groups)
            _errorbar(ax, r, TPS, JPT, fmt="o", color=colors[g], ms=5, label=g)
            ax.annotate(
                label(r, ["batch_size"]) if "batch_size" in keys else "",
                (r[TPS], r[JPT]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
        front = pareto_front([(r[TPS], r[JPT]) for r in measured])
        fx, fy = [measured[i][TPS] for i in front], [measured[i][JPT] for i in front]
        ax.plot(fx, fy, "--", color="0.25", lw=1, zorder=1)
        ax.scatter(fx, fy, s=110, facecolors="none", edgecolors="0.1", lw=1.2, zorder=3, label="Pareto front")
        desc = f"{len(measured)} runs; Pareto front: " + ", ".join(str(measured[i]["run_id"]) for i in front)
        maybe_log(ax, "x", [r[TPS] for r in measured])
        maybe_log(ax, "y", [r[JPT] for r in measured])
        ax.set_xlabel("throughput (output tokens / s)")
        ax.set_ylabel("energy per output token (J)")
        legend_below(ax, note=_ci_note(measured, (TPS, JPT)))
        skipped = len(ok) - len(measured)
        if skipped:
            ax.text(
                0.01,
                0.01,
                f"{skipped} run(s) without an energy measurement not shown",
                transform=ax.transAxes,
                fontsize=7,
                color="#8a5a00",
            )
    fig.savefig(path, dpi=DPI, metadata={"Description": desc})
    plt.close(fig)
    return path


# The batch axis of a set of runs: batch size offline; in server mode the requests in flight (concurrency),
# which is what fills the engine's batches there (workload.batch_size does not apply to a server)
BATCH_AXES = {"batch_size": "batch size", "workload.concurrency": "concurrency (requests in flight)"}


def batch_axis(rows: list[dict]) -> str:
    ok = [r for r in rows if r.get("status") == "ok"]
    server = ok and all(r.get("workload.mode") == "server" and r.get("workload.concurrency") is not None for r in ok)
    return "workload.concurrency" if server else "batch_size"


def metric_vs_batch(rows: list[dict], path: Path, title: str, key: str, ylabel: str, what: str, x: str = "batch_size") -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ok = [r for r in rows if r.get("status") == "ok" and r.get(x) is not None]
    have = [r for r in ok if r.get(key) is not None]
    ax.set_title(wrap_title(f"{title}: {what} vs {BATCH_AXES[x].split(' (')[0]}"))
    if not have:
        what_missing = "energy" if key == JPT else what
        desc = f"{what_missing} not measured: {_reason(ok) or 'no completed runs'}"
        not_measured(ax, what_missing, _reason(ok) or "no completed runs")
    else:
        groups = [k for k in varying_keys(have) if k not in (x, "batch_size")] or ["backend"]
        by_group: dict[str, list[dict]] = {}
        for r in have:
            by_group.setdefault(label(r, groups), []).append(r)
        for i, (g, rs) in enumerate(sorted(by_group.items())):
            rs = sorted(rs, key=lambda r: r[x])
            ax.plot([r[x] for r in rs], [r[key] for r in rs], "-", color=f"C{i}", lw=1, alpha=0.8)
            for j, r in enumerate(rs):
                _errorbar(ax, r, x, key, fmt="o", color=f"C{i}", ms=5, label=g if j == 0 else None)
        sizes = sorted({r[x] for r in have})
        if len(sizes) > 1 and sizes[-1] / max(sizes[0], 1) >= 8:
            ax.set_xscale("log", base=2)
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(s) for s in sizes])
        ax.minorticks_off()
        maybe_log(ax, "y", [r[key] for r in have])
        ax.set_xlabel(BATCH_AXES[x])
        ax.set_ylabel(ylabel)
        legend_below(ax, note=_ci_note(have, (key,)))
        desc = f"{len(have)} runs in {len(by_group)} series: " + "; ".join(sorted(by_group))
    fig.savefig(path, dpi=DPI, metadata={"Description": desc})
    plt.close(fig)
    return path

"""Trade-off plots beyond energy vs throughput: J/token against p90 latency (with its Pareto
front), against roofline MBU, and against the GPU power limit of a power-limit sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from llem.report.plots import JPT, pareto_front
from llem.report.slo import latency_of
from llem.report.style import DPI, FIGSIZE, legend_below, pyplot, title as wrap_title
from llem.report.table import label, varying_keys


def _scatter(
    rows: list[dict], path: Path, title: str, x: Callable[[dict], Optional[float]], xlabel: str, what: str, front: bool = False
) -> Optional[Path]:
    have = [r for r in rows if r.get("status") == "ok" and r.get(JPT) is not None and x(r) is not None]
    if not have:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ax.set_title(wrap_title(f"{title}: {what}"))
    groups = varying_keys(have) or ["backend"]
    colors = {g: f"C{i % 10}" for i, g in enumerate(sorted({label(r, groups) for r in have}))}
    for r in have:
        g = label(r, groups)
        ax.plot([x(r)], [r[JPT]], "o", color=colors[g], ms=5, label=g)
    desc = f"{len(have)} runs"
    if front:  # lower latency and lower energy are both better: the front of (-latency, energy)
        idx = pareto_front([(-x(r), r[JPT]) for r in have])
        pts = sorted((x(have[i]), have[i][JPT]) for i in idx)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "--", color="0.25", lw=1, zorder=1)
        ax.scatter(
            [p[0] for p in pts],
            [p[1] for p in pts],
            s=110,
            facecolors="none",
            edgecolors="0.1",
            lw=1.2,
            zorder=3,
            label="Pareto front",
        )
        desc += "; Pareto front: " + ", ".join(str(have[i]["run_id"]) for i in idx)
    legend_below(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("energy per output token (J)")
    fig.savefig(path, dpi=DPI, metadata={"Description": desc})
    plt.close(fig)
    return path


def tradeoff_plots(rows: list[dict], out_dir: Path, title: str) -> dict[str, Path]:
    """The plots these runs have data for (none is drawn empty)."""
    made = {
        "energy_vs_latency": _scatter(
            rows,
            out_dir / "energy_vs_latency.png",
            title,
            latency_of,
            "p90 latency (s): per request in server mode, per batch offline",
            "energy vs latency",
            front=True,
        ),
        "energy_vs_mbu": _scatter(
            rows,
            out_dir / "energy_vs_mbu.png",
            title,
            lambda r: r.get("mbu_decode"),
            "decode memory-bandwidth utilisation (MBU, datasheet peak)",
            "energy vs MBU",
        ),
        "energy_vs_power_limit": _scatter(
            rows,
            out_dir / "energy_vs_power_limit.png",
            title,
            lambda r: r.get("power_limit_w"),
            "GPU power limit (W)",
            "energy vs power limit",
        ),
    }
    return {k: v for k, v in made.items() if v is not None}

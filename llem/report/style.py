"""Matplotlib set-up shared by the report's figures: headless (Agg), paper-sized, readable."""

from __future__ import annotations

import textwrap

from llem.errors import MissingExtra

FIGSIZE = (6.4, 4.4)
DPI = 200


def pyplot():
    """matplotlib.pyplot on the Agg backend; UserError with the pip line when it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra("llem report plots", "report", "matplotlib") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "savefig.bbox": "tight",
    })
    return plt


def not_measured(ax, what: str, reason: str | None) -> None:
    """Say plainly on the axes that there is nothing to plot (never draw zeros in its place)."""
    msg = f"{what} not measured"
    if reason:
        msg += "\n\n" + "\n".join(textwrap.wrap(reason, 60))
    ax.text(0.5, 0.5, msg, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#8a5a00",
            bbox={"boxstyle": "round", "facecolor": "#fff6e0", "edgecolor": "#d9a441"})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def maybe_log(ax, axis: str, values: list[float]) -> None:
    vals = [v for v in values if v and v > 0]
    if len(vals) >= 2 and max(vals) / min(vals) > 20:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")

"""Matplotlib set-up shared by the report's figures: headless (Agg), paper-sized, readable."""

from __future__ import annotations

import textwrap

from llem.errors import MissingExtra

# One paper column (3.5 in, ACM/IEEE two-column) at print resolution: placed at that width its text
# is 7-8 pt, as readable as the paper's own captions; the PNGs are 1050 px wide on screen.
FIGSIZE = (3.5, 2.6)
DPI = 300
TITLE_CHARS = 48  # a title wraps to the column's width


def title(text: str) -> str:
    return "\n".join(textwrap.wrap(text, TITLE_CHARS))


def legend_below(ax, ncol_max: int = 2, source=None, below: float = 0.22, note: str | None = None) -> None:
    """The legend under the axes, outside the data (savefig's tight box keeps it in the PNG);
    source: the axes whose series it lists (default: ax)."""
    handles, labels = (source or ax).get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    if not uniq and not note:
        return
    leg = ax.legend(
        uniq.values(),
        uniq.keys(),
        loc="upper center",
        bbox_to_anchor=(0.5, -below),
        frameon=False,
        ncol=max(1, min(ncol_max, len(uniq))),
        handletextpad=0.3,
        columnspacing=1.0,
        borderaxespad=0.0,
        title=note,
        title_fontsize=6.5,
    )
    if note:
        leg.get_title().set_color("0.4")


def pyplot():
    """matplotlib.pyplot on the Agg backend; UserError with the pip line when it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra("llem report plots", "report", "matplotlib") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 8,
            "axes.titlesize": 8,
            "axes.labelsize": 8,
            "legend.fontsize": 7,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "savefig.bbox": "tight",
        }
    )
    return plt


def not_measured(ax, what: str, reason: str | None) -> None:
    """Say plainly on the axes that there is nothing to plot (never draw zeros in its place)."""
    msg = f"{what} not measured"
    if reason:
        msg += "\n\n" + "\n".join(textwrap.wrap(reason, 60))
    ax.text(
        0.5,
        0.5,
        msg,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=10,
        color="#8a5a00",
        bbox={"boxstyle": "round", "facecolor": "#fff6e0", "edgecolor": "#d9a441"},
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def maybe_log(ax, axis: str, values: list[float]) -> None:
    vals = [v for v in values if v and v > 0]
    if len(vals) >= 2 and max(vals) / min(vals) > 20:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")

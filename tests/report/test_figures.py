"""Figures at paper column width: series labelled by what differs between them only, legends
outside the data (issue 28, 10)."""

from __future__ import annotations

from llem.report.style import FIGSIZE, legend_below, pyplot
from llem.report.table import label, varying_keys


def test_series_are_labelled_by_what_differs_only():
    llamacpp = {
        "backend": "llamacpp",
        "model": "m",
        "batch_size": 4,
        "backend.flash_attn": False,
        "backend.n_batch": 512,
        "backend.use_mmap": True,
    }
    rows = [
        {"backend": "vllm", "model": "m", "batch_size": 4, "backend.enforce_eager": False},
        llamacpp,
        dict(llamacpp, batch_size=8),
        {"backend": "pytorch", "model": "m", "batch_size": 4},
    ]
    keys = [k for k in varying_keys(rows) if k != "batch_size"]
    assert keys == ["backend"]  # each engine's own settings are not differences between the series
    assert sorted({label(r, keys) for r in rows}) == ["llamacpp", "pytorch", "vllm"]
    tuned = rows + [dict(llamacpp, **{"backend.n_batch": 2048})]  # one engine setting really varies
    assert [k for k in varying_keys(tuned) if k != "batch_size"] == ["backend", "backend.n_batch"]


def test_legend_sits_below_the_axes_at_column_width():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for i in range(5):
        ax.plot([1, 2], [i, i + 1], "o-", label=f"series {i} with a long name")
    ax.set_xlabel("x")
    legend_below(ax, note="error bars: 95% CI over repeats")
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    axes = ax.get_window_extent()
    label_box = ax.xaxis.label.get_window_extent()
    assert legend.y1 < axes.y0 and legend.y1 < label_box.y0  # under the data and under the axis label
    assert FIGSIZE[0] <= 3.5  # one paper column
    plt.close(fig)

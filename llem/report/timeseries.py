"""The power time series of one run (<run_dir>/timeseries.csv, written by llem.energy.sampler: one
row per device per sample, absolute unix time), plotted with the measured windows shaded.
Sampled power is for the picture only; the run's joules come from the energy counters."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

from llem.paths import POWER_PLOT, TIMESERIES
from llem.report.style import DPI, legend_below, pyplot, title as wrap_title

DEFAULT_FILE = TIMESERIES


def timeseries_path(record: dict, run_dir: Path) -> Optional[Path]:
    ts = record.get("timeseries")
    name = ts.get("file") if isinstance(ts, dict) else None
    for candidate in ([name] if name else []) + [DEFAULT_FILE]:
        path = Path(run_dir) / candidate
        if path.is_file():
            return path
    return None


def _float(v) -> Optional[float]:
    try:
        return None if v in (None, "") else float(v)
    except ValueError:
        return None


def read_timeseries(path: Path) -> dict[str, dict[str, list]]:
    """{device: {"t": [...], "power_w": [...], "temperature_c": [...]}} (missing samples are None)."""
    out: dict[str, dict[str, list]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            t = _float(row.get("t_unix_s"))
            if t is None:
                continue
            d = out.setdefault(row.get("device") or "device", {"t": [], "power_w": [], "temperature_c": []})
            d["t"].append(t)
            d["power_w"].append(_float(row.get("power_w")))
            d["temperature_c"].append(_float(row.get("temperature_c")))
    return out


def plot_run_power(record: dict, run_dir: Path, out: Path) -> Optional[Path]:
    """Write the run's power plot to `out`; None when the run has no time series."""
    path = timeseries_path(record, run_dir)
    if path is None:
        return None
    series = read_timeseries(path)
    if not series or not any(p is not None for d in series.values() for p in d["power_w"]):
        return None
    plt = pyplot()
    has_temp = any(v is not None for d in series.values() for v in d["temperature_c"])
    fig, axes = plt.subplots(
        2 if has_temp else 1,
        1,
        figsize=(3.5, 3.2 if has_temp else 2.3),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1]} if has_temp else None,
        squeeze=False,
    )
    ax_p = axes[0][0]
    t0 = min(min(d["t"]) for d in series.values())
    for i, (device, d) in enumerate(sorted(series.items())):
        xs = [t - t0 for t, p in zip(d["t"], d["power_w"]) if p is not None]
        ys = [p for p in d["power_w"] if p is not None]
        ax_p.plot(xs, ys, lw=0.9, color=f"C{i}", label=f"{device} power")
        if has_temp:
            tx = [t - t0 for t, c in zip(d["t"], d["temperature_c"]) if c is not None]
            ty = [c for c in d["temperature_c"] if c is not None]
            axes[1][0].plot(tx, ty, lw=0.9, color=f"C{i}")
    for j, w in enumerate(record.get("windows") or []):
        start, dur = w.get("started_unix_s"), w.get("duration_s")
        if start is None or dur is None:
            continue
        for k in range(len(axes)):
            axes[k][0].axvspan(
                start - t0,
                start - t0 + dur,
                color="0.6",
                alpha=0.18,
                lw=0,
                label="measured window" if j == 0 and k == 0 else None,
            )
    ident = record.get("identity", {})
    m = record.get("metrics", {})
    title = ident.get("run_id", "run")
    if m.get("avg_power_w") is not None:
        title += f"\nmean {m['avg_power_w']:.0f} W over the windows (energy counter)"
    ax_p.set_title("\n".join(wrap_title(line) for line in title.split("\n")))
    ax_p.set_ylabel("power (W, sampled)")
    legend_below(axes[-1][0], ncol_max=3, source=ax_p, below=0.8 if has_temp else 0.32)
    ax_p.set_ylim(bottom=0)
    if has_temp:
        axes[1][0].set_ylabel("temp (°C)")
    axes[-1][0].set_xlabel("time since the sampler started (s)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def power_plot(record: dict, run_dir: Path) -> Optional[Path]:
    """The run's power plot in <run_dir>/plots/ (llem.paths.POWER_PLOT), made before its files are
    uploaded to a tracker; None for a failed run, a run without a time series, or no matplotlib.
    Never raises: a plot must never cost the upload of a measurement."""
    if record.get("status") != "ok":
        return None
    try:
        return plot_run_power(record, Path(run_dir), Path(run_dir) / POWER_PLOT)
    except Exception:
        return None

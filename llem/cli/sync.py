"""`llem sync`: tracking uploads the runs that could not be logged when they ran; the power plot of
each is made first here, since tracking does not plot."""

from __future__ import annotations

from llem.report.timeseries import power_plot
from llem.tracking.sync import main as sync


def main(argv: list[str]) -> int:
    return sync(argv, prepare=power_plot)

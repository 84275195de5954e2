"""A GPU-like run (result built from the recorded H100 trace, see tests/report/realistic.py) goes
to a real SQLite MLflow store with its energy metrics, time series and power plot as artifacts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "report"))

from realistic import write_trace_run  # noqa: E402

from llem.report.timeseries import power_plot  # noqa: E402
from llem.tracking.upload import log_run  # noqa: E402


def test_energy_run_uploads_metrics_timeseries_and_plot(tmp_path):
    run_dir = write_trace_run(tmp_path / "outputs")
    record = json.loads((run_dir / "result.json").read_text())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # What the job path (llem.cli.app) and `llem sync` do: the plot first, then tracking uploads the run dir's files.
    assert power_plot(record, run_dir) == run_dir / "plots" / "power_timeseries.png"
    run_id, created = log_run(run_dir, record, uri, "artifacts", sweep=None)
    assert created

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    m = run.data.metrics
    assert m["energy_j_per_output_token"] == record["metrics"]["energy_j_per_output_token"]
    assert m["timeseries.peak_power_w"] > 600 and "energy_j_per_output_token.ci95_low" in m
    steps = [x.step for x in client.get_metric_history(run_id, "window.energy_j")]
    assert sorted(steps) == [0, 1, 2]
    files = {a.path for a in client.list_artifacts(run_id)} | {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"result.json", "timeseries.csv", "plots/power_timeseries.png"} <= files
    assert (run_dir / "plots" / "power_timeseries.png").stat().st_size > 20_000

    again, created = log_run(run_dir, record, uri, "artifacts", sweep=None)  # a second upload finds the first
    assert (again, created) == (run_id, False)
    assert len(client.search_runs([run.info.experiment_id])) == 1

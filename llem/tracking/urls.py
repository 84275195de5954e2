"""Links into MLflow's UI for what a sweep logged: the runs table, the parent run, and the compare
view of the sweep's runs. Pure string building (no mlflow import), checked against MLflow 3.17's
UI routes (tests/tracking/test_mlflow_ui.py opens them in headless Chromium):

- `#/experiments/<id>/runs` is the runs table. MLflow 3.x decides between its GenAI pages and its
  "Model training" pages from `workflowType` (the URL parameter, else the browser's last choice,
  GenAI by default); MLflow versions that read the experiment's `mlflow.experimentKind` tag
  instead get `custom_model_development` (llem sets it: llem/tracking/mlflow_store.py). The links
  carry `workflowType=machine_learning`, so they open on the runs table in either case.
- `#/compare-runs?runs=[...]&experiments=[...]` (JSON lists) is the compare view (workflowType
  there keeps the side bar on "Model training").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional
from urllib.parse import quote, urlencode, urlparse

from llem.results.objective import HIGHER_IS_BETTER
from llem.tracking.marker import read_marker

WORKFLOW = "machine_learning"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
DEFAULT_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves a local store


def ui_base(uri: str) -> tuple[str, Optional[str]]:
    """(base URL of the UI, the command that serves it or None when the URI is a server already)."""
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        return uri.rstrip("/"), None
    return DEFAULT_UI, f"mlflow ui --backend-store-uri {uri}"


def experiment_url(base: str, experiment_id: str, order_by: Optional[str] = None, ascending: bool = True) -> str:
    """The experiment's runs table, sorted by the metric `order_by` where given."""
    query = {"workflowType": WORKFLOW}
    if order_by:
        query.update(orderByKey=f"metrics.`{order_by}`", orderByAsc="true" if ascending else "false")
    return f"{base}/#/experiments/{experiment_id}/runs?{urlencode(query, quote_via=quote)}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType={WORKFLOW}"


def compare_url(base: str, experiment_id: str, run_ids: Iterable[str]) -> str:
    runs = quote(json.dumps(list(run_ids), separators=(",", ":")))
    exps = quote(json.dumps([str(experiment_id)], separators=(",", ":")))
    return f"{base}/#/compare-runs?runs={runs}&experiments={exps}&workflowType={WORKFLOW}"


def job_run_ids(summary: dict) -> list[str]:
    """MLflow run ids of a sweep's jobs, from their run dirs' tracking markers (skipped jobs too:
    their earlier measurement is part of this sweep's comparison)."""
    ids = []
    for job in summary.get("jobs", []):
        marker = read_marker(Path(job["run_dir"])) if job.get("run_dir") else None
        if marker and marker.get("synced") and marker.get("mlflow_run_id"):
            ids.append(marker["mlflow_run_id"])
    return list(dict.fromkeys(ids))


def sweep_links(sweep: dict, summary: dict, order_by: Optional[str] = "energy_j_per_output_token") -> list[str]:
    """The lines a sweep's end prints: where to see its runs in MLflow. [] when it logged nothing."""
    state = sweep.get("mlflow") or {}
    exp, parent = state.get("experiment_id"), state.get("parent_run_id")
    if not state.get("uri") or not exp:
        return []
    base, serve = ui_base(state["uri"])
    runs = job_run_ids(summary)
    lines = [f"serve the UI with: {serve}"] if serve else []
    lines.append(f"runs table: {experiment_url(base, exp, order_by, ascending=order_by not in HIGHER_IS_BETTER)}")
    if parent:
        lines.append(f"sweep (parent run): {run_url(base, exp, parent)}")
    if len(runs) >= 2:
        lines.append(f"compare the sweep's {len(runs)} runs: {compare_url(base, exp, runs)}")
    return lines

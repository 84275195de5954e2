"""The experiment kind llem sets, and the MLflow UI links it prints (opened for real in test_mlflow_ui.py)."""

from __future__ import annotations

import json
from urllib.parse import unquote

from llem.tracking.marker import write_marker
from llem.tracking.urls import compare_url, experiment_url, sweep_links


def test_experiment_marked_as_model_training_unless_it_has_a_kind(tmp_path):
    from llem.tracking.mlflow_store import connect, experiment_id

    client = connect(f"sqlite:///{tmp_path / 'store.db'}")
    new = experiment_id(client, "fresh")
    old = client.create_experiment("older")  # made by an older llem or by hand: no kind yet
    theirs = client.create_experiment("theirs", tags={"mlflow.experimentKind": "genai_development"})
    assert experiment_id(client, "older") == old and experiment_id(client, "theirs") == theirs
    kinds = {
        n: client.get_experiment(i).tags.get("mlflow.experimentKind")
        for n, i in (("fresh", new), ("older", old), ("theirs", theirs))
    }
    assert kinds == {
        "fresh": "custom_model_development",
        "older": "custom_model_development",
        "theirs": "genai_development",
    }  # a kind someone chose is left alone


def test_links(tmp_path):
    url = compare_url("http://h:5000", "3", ["a1", "b2"])
    runs = unquote(url.split("runs=")[1].split("&")[0])
    assert url.startswith("http://h:5000/#/compare-runs?") and json.loads(runs) == ["a1", "b2"]
    assert experiment_url("http://h:5000", "3", "energy_j_per_output_token") == (
        "http://h:5000/#/experiments/3/runs?workflowType=machine_learning"
        "&orderByKey=metrics.%60energy_j_per_output_token%60&orderByAsc=true"
    )
    dirs = []
    for i, synced in enumerate((True, True, False)):
        d = tmp_path / f"run{i}"
        d.mkdir()
        write_marker(
            d, synced=synced, uri="u", experiment="e", measurement=str(i), sweep=None, mlflow_run_id=f"id{i}" if synced else None
        )
        dirs.append({"run_dir": str(d), "status": "measured"})
    sweep = {"mlflow": {"uri": "http://h:5000/", "experiment_id": "3", "parent_run_id": "p"}}
    lines = sweep_links(sweep, {"jobs": dirs}, "output_tokens_per_s")
    assert lines[0].endswith("orderByAsc=false")  # more throughput is better: best first
    assert lines[1] == "sweep (parent run): http://h:5000/#/experiments/3/runs/p?workflowType=machine_learning"
    assert lines[2].startswith("compare the sweep's 2 runs: ")  # the run that is not in MLflow is left out
    local = sweep_links({"mlflow": {"uri": "sqlite:////x/mlflow.db", "experiment_id": "1"}}, {"jobs": []})
    assert local[0] == "serve the UI with: mlflow ui --backend-store-uri sqlite:////x/mlflow.db"
    assert sweep_links({"mlflow": {"uri": "http://h", "experiment_id": None}}, {"jobs": []}) == []  # store was down

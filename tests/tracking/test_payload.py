"""What a job sends to MLflow, from its record: curated params, measured metrics only, windows as steps."""

from __future__ import annotations

import json

from llem.results.metrics import latency_summary, summarize_windows, window_metrics
from llem.tracking import payload
from llem.sweep.summary import job_outcome


def _record(energy_j):
    windows = []
    for i, (dur, joules) in enumerate([(2.0, energy_j), (2.2, None if energy_j is None else energy_j * 1.1)]):
        w = window_metrics(dur, 8, 1024, 512, joules, None if energy_j is None else 100.0, None)
        w.update(index=i, started_unix_s=1.8e9 + 10 * i, batch_latency_s=[dur / 2] * 2, energy={})
        windows.append(w)
    stats = summarize_windows(windows)
    return {
        "status": "ok",
        "identity": {
            "run_id": "pytorch_tiny-abc",
            "config_hash": "abc",
            "llem_version": "0.1.0",
            "llem_git_revision": "deadbeef",
            "engine": "transformers",
            "engine_version": "5.0",
            "device": "cuda",
            "started_unix_s": 1.8e9 - 5,
            "finished_unix_s": 1.8e9 + 30,
        },
        "spec": {
            "backend": {"name": "pytorch", "dtype": "bfloat16", "cache_implementation": "static", "device_map": None},
            "model": {"name": "tiny", "id": "tiny", "weights": "pretrained"},
            "hardware": {"name": "h100", "gpu_count": 1},
            "energy": {"meter": "auto"},
            "workload": {
                "name": "default",
                "source": "builtin",
                "batch_size": 4,
                "input_tokens": 128,
                "output_tokens": 64,
                "num_prompts": 8,
            },
            "run": {"repeats": 2, "warmup": 1},
        },
        "metrics": {
            "energy_j_per_output_token": (stats["energy_j_per_output_token"] or {}).get("mean"),
            "output_tokens_per_s": stats["output_tokens_per_s"]["mean"],
            "energy_reason": None if energy_j else "no sensor",
            **latency_summary(windows),
        },
        "statistics": stats,
        "windows": windows,
        "energy": {"meter": {"meter": "nvml" if energy_j else "none"}},
        "timeseries": {"file": "timeseries.csv", "peak_power_w": 612.5, "samples": 40} if energy_j else None,
        "validity": {"ok": True, "flags": []},
        "load_s": 3.5,
        "memory": {"peak_rss_mib": 900.0, "gpu_peak_mib": None},
    }


def test_params_are_curated_and_leave_missing_values_out():
    env = {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}], "cpu_model": "AMD EPYC"}
    p = payload.params(_record(300.0), env)
    assert p["gpu_name"] == "NVIDIA H100 80GB HBM3" and p["dtype"] == "bfloat16" and p["batch_size"] == "4"
    assert p["backend.cache_implementation"] == "static" and "backend.device_map" not in p
    assert p["energy_meter"] == "nvml" and p["config_hash"] == "abc"
    assert "gpu_name" not in payload.params(_record(300.0), {"gpus": []})


def test_metrics_measured_only_and_windows_as_steps():
    m = {(k, step): v for k, v, _ts, step in payload.metrics(_record(300.0))}
    assert m[("energy_j_per_output_token", 0)] == (300 / 512 + 330 / 512) / 2
    assert m[("window.energy_j", 0)] == 300.0 and m[("window.energy_j", 1)] == 330.0
    assert ("energy_j_per_output_token.ci95_low", 0) in m and m[("timeseries.peak_power_w", 0)] == 612.5
    assert ("memory.gpu_peak_mib", 0) not in m

    keys = {k for k, *_ in payload.metrics(_record(None))}
    assert "output_tokens_per_s" in keys and "window.output_tokens_per_s" in keys
    assert not [k for k in keys if "energy" in k or "power" in k]  # not measured -> not logged, never 0


def test_each_headline_metric_is_logged_once_under_its_result_name():
    keys = [k for k, _v, _ts, step in payload.metrics(_record(300.0)) if step == 0 and "." not in k]
    assert len(keys) == len(set(keys)), keys
    assert {"energy_j_per_output_token", "output_tokens_per_s"} <= set(keys)
    assert not [k for k in keys if k[:1].isdigit()], keys  # the ranked 1_... copies are gone


def test_tags_and_measurement_identity():
    rec = _record(None)
    t = payload.tags(rec, {"sweep_id": "s1", "name": "sweep", "parent_run_id": "p1"})
    assert t["llem.energy"] == "not measured: no sensor" and t["mlflow.parentRunId"] == "p1"
    assert t["llem.git_revision"] == "deadbeef" and t["llem.run_id"] == "pytorch_tiny-abc"
    again = json.loads(json.dumps(rec))
    assert payload.measurement_id(again) == payload.measurement_id(rec)
    again["identity"]["started_unix_s"] += 60  # a forced re-measurement is a different measurement
    assert payload.measurement_id(again) != payload.measurement_id(rec)
    assert "llem.engine_loaded_for" not in t
    reused = dict(rec, engine_load={"reused": True, "load_s": 3.5, "loaded_for": "pytorch_tiny-first", "job_on_engine": 2})
    assert payload.tags(reused)["llem.engine_loaded_for"] == "pytorch_tiny-first"
    failed = {
        "status": "failed",
        "identity": rec["identity"],
        "spec": rec["spec"],
        "error": {"type": "WorkerDied", "message": "killed by signal 9"},
    }
    assert payload.tags(failed)["llem.error_type"] == "WorkerDied" and payload.metrics(failed) == []
    assert payload.params(failed)["model"] == "tiny"


def test_job_outcome_from_the_run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    assert job_outcome(d, 100.0)[0] == "incomplete"
    (d / "failure.json").write_text(json.dumps({"status": "failed", "error": {"type": "X", "message": "boom"}}))
    assert job_outcome(d, 100.0) == ("failed", "X: boom")
    # the smallest record the result schema takes as complete (llem.results.complete); a hollow one is not
    (d / "result.json").write_text(json.dumps({"status": "ok", "identity": {"finished_unix_s": 150.0}}))
    assert job_outcome(d, 100.0)[0] == "failed"
    (d / "result.json").write_text(
        json.dumps(
            {
                "schema_version": 2,
                "status": "ok",
                "identity": {"run_id": "run", "config_hash": "0" * 12, "finished_unix_s": 150.0},
                "spec": {"backend": {}, "model": {}, "workload": {}, "run": {}},
                "metrics": {"energy_j_per_output_token": None, "output_tokens_per_s": 1.0},
                "windows": [{}],
                "validity": {"flags": []},
            }
        )
    )
    assert job_outcome(d, 100.0)[0] == "measured" and job_outcome(d, 200.0)[0] == "skipped"
